//! The assertion's own checks (SAML profiles §4.1.4.2): issuer, conditions and audiences, the bearer
//! subject confirmation, the authentication statement, and the attributes — run by
//! [`crate::response`] on the one assertion whose signature it verified, and the only place values are
//! read from it.

use tessera_proto::rfc3339::parse_unix_time;
use tessera_proto::UnixTime;

use crate::reader::{ns, ReadError, XmlElement};
use crate::response::{
    Attribute, Expectations, ResponseError, VerifiedLogin, CM_BEARER, MAX_NAME_ID_CHARS,
    NAMEID_ENTITY,
};

/// `Version="2.0"` and an `ID`, on a response or an assertion.
pub(crate) fn check_version(element: XmlElement<'_, '_>) -> Result<(), ResponseError> {
    let version = element.required_attribute("Version")?;
    if version != "2.0" {
        return Err(ResponseError::Malformed(format!(
            "`{}` has version `{version}`",
            element.local_name()
        )));
    }
    element.required_attribute("ID")?;
    Ok(())
}

pub(crate) fn check_issuer(
    issuer: XmlElement<'_, '_>,
    expect: &Expectations<'_>,
) -> Result<(), ResponseError> {
    if let Some(format) = issuer.attribute("Format") {
        if format != NAMEID_ENTITY {
            return Err(ResponseError::IssuerMismatch(format!("(format {format})")));
        }
    }
    let value = issuer.text()?.trim();
    if value != expect.idp_entity_id {
        return Err(ResponseError::IssuerMismatch(value.to_owned()));
    }
    Ok(())
}

/// A moment attribute, if present.
fn moment(
    element: XmlElement<'_, '_>,
    name: &'static str,
) -> Result<Option<UnixTime>, ResponseError> {
    element
        .attribute(name)
        .map(|text| {
            parse_unix_time(text).ok_or_else(|| {
                ResponseError::Malformed(format!(
                    "`{}` {name} is not an xs:dateTime",
                    element.local_name()
                ))
            })
        })
        .transpose()
}

/// Refuses when `now` is at or after `not_on_or_after` (plus skew).
fn not_expired(
    not_on_or_after: Option<UnixTime>,
    now: UnixTime,
    skew: i64,
    what: &str,
) -> Result<(), ResponseError> {
    match not_on_or_after {
        Some(limit) if now >= limit.plus_secs(skew) => Err(ResponseError::Expired(what.to_owned())),
        _ => Ok(()),
    }
}

/// Every check on the assertion, and the values it vouches for.
pub(crate) fn read_assertion(
    assertion: XmlElement<'_, '_>,
    expect: &Expectations<'_>,
    response_in_response_to: Option<&str>,
    now: UnixTime,
) -> Result<VerifiedLogin, ResponseError> {
    check_version(assertion)?;
    check_issuer(assertion.only_child(ns::SAML, "Issuer")?, expect)?;
    let skew = expect.clock_skew_secs;

    let conditions = assertion.only_child(ns::SAML, "Conditions")?;
    let not_before = moment(conditions, "NotBefore")?;
    if not_before.is_some_and(|t| now.plus_secs(skew) < t) {
        return Err(ResponseError::NotYetValid("Conditions NotBefore".into()));
    }
    let conditions_until = moment(conditions, "NotOnOrAfter")?;
    not_expired(conditions_until, now, skew, "Conditions NotOnOrAfter")?;
    check_audiences(conditions, expect)?;

    let subject = assertion.only_child(ns::SAML, "Subject")?;
    let name_id_element = subject.only_child(ns::SAML, "NameID")?;
    let name_id = name_id_element.text()?.trim();
    if name_id.is_empty() || name_id.chars().count() > MAX_NAME_ID_CHARS {
        return Err(ResponseError::Malformed(
            "the NameID is empty or too long".into(),
        ));
    }
    let (in_response_to, confirmed_until) =
        confirm_bearer(subject, expect, response_in_response_to, now)?;

    let authn = assertion
        .children_named(ns::SAML, "AuthnStatement")
        .next()
        .ok_or(ReadError::MissingElement {
            parent: "Assertion".into(),
            name: "AuthnStatement",
        })?;
    let authn_instant = moment(authn, "AuthnInstant")?.ok_or(ReadError::MissingAttribute {
        element: "AuthnStatement".into(),
        name: "AuthnInstant",
    })?;
    not_expired(
        moment(authn, "SessionNotOnOrAfter")?,
        now,
        skew,
        "AuthnStatement SessionNotOnOrAfter",
    )?;
    let authn_context_class = match authn.optional_child(ns::SAML, "AuthnContext")? {
        Some(context) => context
            .optional_child(ns::SAML, "AuthnContextClassRef")?
            .map(|c| c.text().map(|t| t.trim().to_owned()))
            .transpose()?,
        None => None,
    };

    let latest = [conditions_until, Some(confirmed_until)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(confirmed_until);
    Ok(VerifiedLogin {
        assertion_id: assertion.required_attribute("ID")?.to_owned(),
        name_id: name_id.to_owned(),
        name_id_format: name_id_element.attribute("Format").map(str::to_owned),
        in_response_to: in_response_to.map(str::to_owned),
        authn_instant,
        session_index: authn.attribute("SessionIndex").map(str::to_owned),
        authn_context_class,
        attributes: read_attributes(assertion)?,
        replay_until: latest.plus_secs(skew),
        response_signed_by: None,
        assertion_signed_by: None,
    })
}

/// Every `AudienceRestriction` must name our entityID (SAML core §2.5.1.4: each restriction must be met),
/// and there must be at least one (SAML profiles §4.1.4.2).
fn check_audiences(
    conditions: XmlElement<'_, '_>,
    expect: &Expectations<'_>,
) -> Result<(), ResponseError> {
    let mut restrictions = 0;
    for restriction in conditions.children_named(ns::SAML, "AudienceRestriction") {
        restrictions += 1;
        let mut ours = false;
        for audience in restriction.children_named(ns::SAML, "Audience") {
            ours |= audience.text()?.trim() == expect.sp_entity_id;
        }
        if !ours {
            return Err(ResponseError::AudienceMismatch(
                "an AudienceRestriction does not name this service".into(),
            ));
        }
    }
    if restrictions == 0 {
        return Err(ResponseError::AudienceMismatch(
            "the assertion has no AudienceRestriction".into(),
        ));
    }
    Ok(())
}

/// The first bearer `SubjectConfirmation` whose data is for our ACS, unexpired and for the same request
/// as the response; answers its `InResponseTo` and its `NotOnOrAfter`.
fn confirm_bearer<'a>(
    subject: XmlElement<'a, '_>,
    expect: &Expectations<'_>,
    response_in_response_to: Option<&'a str>,
    now: UnixTime,
) -> Result<(Option<&'a str>, UnixTime), ResponseError> {
    let mut refusal = ResponseError::SubjectUnconfirmed;
    for confirmation in subject.children_named(ns::SAML, "SubjectConfirmation") {
        if confirmation.attribute("Method") != Some(CM_BEARER) {
            continue;
        }
        let Some(data) = confirmation.optional_child(ns::SAML, "SubjectConfirmationData")? else {
            refusal = ResponseError::RecipientMismatch("bearer confirmation without data".into());
            continue;
        };
        let recipient = data.attribute("Recipient");
        if recipient != Some(expect.acs_url) {
            refusal = ResponseError::RecipientMismatch(format!(
                "Recipient is `{}`",
                recipient.unwrap_or("(none)")
            ));
            continue;
        }
        // SAML profiles §4.1.4.2: a bearer confirmation carries NotOnOrAfter.
        let Some(until) = moment(data, "NotOnOrAfter")? else {
            refusal = ResponseError::Malformed(
                "bearer SubjectConfirmationData without NotOnOrAfter".into(),
            );
            continue;
        };
        if let Err(e) = not_expired(
            Some(until),
            now,
            expect.clock_skew_secs,
            "SubjectConfirmationData NotOnOrAfter",
        ) {
            refusal = e;
            continue;
        }
        if moment(data, "NotBefore")?.is_some_and(|t| now.plus_secs(expect.clock_skew_secs) < t) {
            refusal = ResponseError::NotYetValid("SubjectConfirmationData NotBefore".into());
            continue;
        }
        let in_response_to = data.attribute("InResponseTo");
        match (response_in_response_to, in_response_to) {
            (Some(a), Some(b)) if a != b => {
                refusal = ResponseError::InResponseToMismatch;
                continue;
            }
            (Some(_), None) | (None, Some(_)) => {
                refusal = ResponseError::InResponseToMismatch;
                continue;
            }
            _ => {}
        }
        return Ok((in_response_to, until));
    }
    Err(refusal)
}

/// Every `Attribute` of every `AttributeStatement`, values as text (a value holding an element or a
/// comment is refused; `xsi:nil` values are left out). The same `Name` in two statements merges.
fn read_attributes(assertion: XmlElement<'_, '_>) -> Result<Vec<Attribute>, ResponseError> {
    let mut attributes: Vec<Attribute> = Vec::new();
    for statement in assertion.children_named(ns::SAML, "AttributeStatement") {
        for element in statement.children() {
            if element.is(ns::SAML, "EncryptedAttribute") {
                return Err(ResponseError::Encrypted);
            }
            if !element.is(ns::SAML, "Attribute") {
                continue;
            }
            let name = element.required_attribute("Name")?;
            let mut values = Vec::new();
            for value in element.children_named(ns::SAML, "AttributeValue") {
                if value.attribute_ns(ns::XSI, "nil") == Some("true") {
                    continue;
                }
                values.push(value.text()?.to_owned());
            }
            match attributes.iter_mut().find(|a| a.name == name) {
                Some(existing) => existing.values.extend(values),
                None => attributes.push(Attribute {
                    name: name.to_owned(),
                    friendly_name: element.attribute("FriendlyName").map(str::to_owned),
                    values,
                }),
            }
        }
    }
    Ok(attributes)
}
