//! TEST-ONLY: SAML responses built as identity providers build them, signed with the keys of
//! `fixtures` (generated at each run). The signer fills `@DIGEST:{id}@` and `@SIG:{id}@` placeholders
//! in a `ds:Signature` template: it computes the digest with this crate's canonicaliser, so these tests
//! prove the verifier's rules; agreement with other implementations (xmlsec1 through pysaml2, and
//! python3-saml) is proven by the black-box tests against the running origin.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tessera_saml::dsig::{alg, own_signature};
use tessera_saml::{exclusive_c14n, ns, Certificate, Limits, UntrustedXml};

use crate::fixtures::{self, EcIdentity, RsaIdentity};

pub const SP: &str = "https://origin.example/saml/acme/okta/metadata";
pub const ACS: &str = "https://origin.example/saml/acme/okta/acs";
pub const IDP: &str = "http://www.okta.com/exk1fcia6d6EMsf331d8";
pub const REQUEST: &str = "_7c1f0e2b9a8d4c3e";
/// 2026-11-30T10:00:00Z, the tests' "now".
pub const NOW: &str = "2026-11-30T10:00:00Z";

/// A signing key of the tests.
#[derive(Clone, Copy)]
pub enum Key {
    Rsa(&'static RsaIdentity),
    Ec(&'static EcIdentity),
}

impl Key {
    pub fn okta() -> Self {
        Self::Rsa(&fixtures::OKTA)
    }
    pub fn ec() -> Self {
        Self::Ec(&fixtures::EC_IDP)
    }
    pub fn certificate(self) -> Certificate {
        match self {
            Self::Rsa(id) => Certificate::from_der(id.der.clone()).unwrap(),
            Self::Ec(id) => Certificate::from_der(id.der.clone()).unwrap(),
        }
    }
    pub fn algorithm(self) -> &'static str {
        match self {
            Self::Rsa(_) => alg::RSA_SHA256,
            Self::Ec(_) => alg::ECDSA_SHA256,
        }
    }
    fn sign(self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Rsa(id) => {
                use rsa::signature::{SignatureEncoding as _, Signer as _};
                id.signer.sign(message).to_vec()
            }
            Self::Ec(id) => {
                use p256::ecdsa::signature::Signer as _;
                let signature: p256::ecdsa::Signature = id.signer.sign(message);
                signature.to_bytes().to_vec()
            }
        }
    }
}

/// The `ds:Signature` template of element `id`, as Okta and Entra ID write it (exclusive c14n with a
/// `PrefixList` of `xs`, the certificate in `KeyInfo`).
pub fn signature_template(id: &str, key: Key) -> String {
    let algorithm = key.algorithm();
    let cert = fixtures::b64(key.certificate().der());
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{algorithm}"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>@DIGEST:{id}@</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>@SIG:{id}@</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##
    )
}

/// Fills element `id`'s signature placeholders: the digest of its canonical form (signature excluded),
/// then the signature over its canonical `SignedInfo`.
pub fn sign(document: &str, id: &str, key: Key) -> String {
    let digest = {
        let doc = UntrustedXml::parse(document.as_bytes(), Limits::MESSAGE).unwrap();
        let element = doc.element_by_id(id).unwrap();
        let signature = own_signature(element).unwrap().unwrap();
        let canonical = exclusive_c14n(element, &["xs"], Some(signature)).unwrap();
        b64(&Sha256::digest(&canonical))
    };
    let document = document.replacen(&format!("@DIGEST:{id}@"), &digest, 1);
    let value = {
        let doc = UntrustedXml::parse(document.as_bytes(), Limits::MESSAGE).unwrap();
        let element = doc.element_by_id(id).unwrap();
        let signature = own_signature(element).unwrap().unwrap();
        let signed_info = signature.only_child(ns::DS, "SignedInfo").unwrap();
        let canonical = exclusive_c14n(signed_info, &[], None).unwrap();
        b64(&key.sign(&canonical))
    };
    document.replacen(&format!("@SIG:{id}@"), &value, 1)
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The knobs of one response; [`Shape::default`] is a valid SP-initiated login.
#[derive(Clone)]
pub struct Shape {
    pub response_id: &'static str,
    pub assertion_id: &'static str,
    pub destination: Option<&'static str>,
    pub response_issuer: Option<&'static str>,
    pub assertion_issuer: &'static str,
    pub status: &'static str,
    pub in_response_to: Option<&'static str>,
    pub confirmation_in_response_to: Option<&'static str>,
    pub recipient: &'static str,
    pub audience: &'static str,
    pub not_before: &'static str,
    pub not_on_or_after: &'static str,
    pub confirmation_not_on_or_after: &'static str,
    pub name_id: &'static str,
    /// Extra XML right after the assertion (inside the response), before signing.
    pub after_assertion: String,
    pub sign_assertion: Option<Key>,
    pub sign_response: Option<Key>,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            response_id: "_resp8f2a61c0",
            assertion_id: "_asrt3b9e4d17",
            destination: Some(ACS),
            response_issuer: Some(IDP),
            assertion_issuer: IDP,
            status: "urn:oasis:names:tc:SAML:2.0:status:Success",
            in_response_to: Some(REQUEST),
            confirmation_in_response_to: Some(REQUEST),
            recipient: ACS,
            audience: SP,
            not_before: "2026-11-30T09:55:00Z",
            not_on_or_after: "2026-11-30T10:05:00Z",
            confirmation_not_on_or_after: "2026-11-30T10:05:00Z",
            name_id: "00u1ab2cd3EF4gh5i6j7",
            after_assertion: String::new(),
            sign_assertion: Some(Key::okta()),
            sign_response: None,
        }
    }
}

fn attr(name: &str, value: Option<&str>) -> String {
    value.map_or_else(String::new, |v| format!(r#" {name}="{v}""#))
}

impl Shape {
    /// The assertion element alone (unsigned: its signature placeholder when it will be signed).
    pub fn assertion(&self) -> String {
        let id = self.assertion_id;
        let signature = self
            .sign_assertion
            .map_or_else(String::new, |k| signature_template(id, k));
        let in_response_to = attr("InResponseTo", self.confirmation_in_response_to);
        format!(
            r#"<saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="{id}" IssueInstant="2026-11-30T09:59:58Z" Version="2.0"><saml2:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{issuer}</saml2:Issuer>{signature}<saml2:Subject><saml2:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{name_id}</saml2:NameID><saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml2:SubjectConfirmationData{in_response_to} NotOnOrAfter="{until}" Recipient="{recipient}"/></saml2:SubjectConfirmation></saml2:Subject><saml2:Conditions NotBefore="{not_before}" NotOnOrAfter="{not_on_or_after}"><saml2:AudienceRestriction><saml2:Audience>{audience}</saml2:Audience></saml2:AudienceRestriction></saml2:Conditions><saml2:AuthnStatement AuthnInstant="2026-11-30T09:59:57Z" SessionIndex="_sess61d0"><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement><saml2:AttributeStatement><saml2:Attribute Name="email" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic"><saml2:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">ada@corp.example</saml2:AttributeValue></saml2:Attribute><saml2:Attribute Name="groups" FriendlyName="Groups"><saml2:AttributeValue>engineering</saml2:AttributeValue><saml2:AttributeValue>admins</saml2:AttributeValue><saml2:AttributeValue xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/></saml2:Attribute></saml2:AttributeStatement></saml2:Assertion>"#,
            issuer = self.assertion_issuer,
            name_id = self.name_id,
            until = self.confirmation_not_on_or_after,
            recipient = self.recipient,
            not_before = self.not_before,
            not_on_or_after = self.not_on_or_after,
            audience = self.audience,
        )
    }

    /// The response text with placeholders (nothing signed yet).
    pub fn template(&self) -> String {
        let id = self.response_id;
        let signature = self
            .sign_response
            .map_or_else(String::new, |k| signature_template(id, k));
        let issuer = self.response_issuer.map_or_else(String::new, |i| {
            format!(
                r#"<saml2:Issuer xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{i}</saml2:Issuer>"#
            )
        });
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><saml2p:Response xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol"{destination} ID="{id}"{in_response_to} IssueInstant="2026-11-30T09:59:58Z" Version="2.0">{issuer}{signature}<saml2p:Status><saml2p:StatusCode Value="{status}"/></saml2p:Status>{assertion}{after}</saml2p:Response>"#,
            destination = attr("Destination", self.destination),
            in_response_to = attr("InResponseTo", self.in_response_to),
            status = self.status,
            assertion = self.assertion(),
            after = self.after_assertion,
        )
    }

    /// The response, signed as asked: the assertion first, then the response (which covers it).
    pub fn build(&self) -> String {
        let mut text = self.template();
        if let Some(key) = self.sign_assertion {
            text = sign(&text, self.assertion_id, key);
        }
        if let Some(key) = self.sign_response {
            text = sign(&text, self.response_id, key);
        }
        text
    }
}

/// How a test encrypts an assertion.
#[derive(Clone, Copy)]
pub struct Encryption {
    /// `EncryptionMethod` of the data: an `encrypted::alg` AES URI.
    pub content: &'static str,
    /// `EncryptionMethod` of the key, and its optional `DigestMethod` / `MGF`.
    pub transport: &'static str,
    pub oaep_sha256: bool,
    pub mgf_sha256: bool,
    /// The `EncryptedKey` beside the `EncryptedData` instead of inside its `KeyInfo`.
    pub key_beside: bool,
}

impl Default for Encryption {
    fn default() -> Self {
        Self {
            content: tessera_saml::encrypted::alg::AES256_GCM,
            transport: tessera_saml::encrypted::alg::RSA_OAEP_MGF1P,
            oaep_sha256: false,
            mgf_sha256: false,
            key_beside: false,
        }
    }
}

/// Replaces the (signed) assertion of `response` with an `EncryptedAssertion` for `sp`, as identity
/// providers write it.
pub fn encrypt(response: &str, sp: &rsa::PublicKey, how: Encryption) -> String {
    use tessera_saml::encrypted::alg;
    let start = response.find("<saml2:Assertion").unwrap();
    let end = response.find("</saml2:Assertion>").unwrap() + "</saml2:Assertion>".len();
    let plain = response.get(start..end).unwrap();
    let key_len = if how.content.contains("128") { 16 } else { 32 };
    let mut content_key = vec![0u8; key_len];
    getrandom::fill(&mut content_key).unwrap();
    let data = if how.content.ends_with("gcm") {
        gcm_encrypt(&content_key, plain.as_bytes())
    } else {
        cbc_encrypt(&content_key, plain.as_bytes())
    };
    let rng = &mut getrandom::SysRng;
    let wrapped = match (how.oaep_sha256, how.mgf_sha256) {
        (false, false) => sp.encrypt(rng, rsa::Oaep::<sha1::Sha1>::new(), &content_key),
        (true, true) => sp.encrypt(rng, rsa::Oaep::<rsa::sha2::Sha256>::new(), &content_key),
        (true, false) => sp.encrypt(
            rng,
            rsa::Oaep::<rsa::sha2::Sha256, sha1::Sha1>::new_with_mgf_hash(),
            &content_key,
        ),
        (false, true) => sp.encrypt(
            rng,
            rsa::Oaep::<sha1::Sha1, rsa::sha2::Sha256>::new_with_mgf_hash(),
            &content_key,
        ),
    }
    .unwrap();
    let digest = if how.oaep_sha256 {
        format!(
            r#"<ds:DigestMethod xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="{}"/>"#,
            alg::SHA256
        )
    } else {
        String::new()
    };
    let mgf = if how.mgf_sha256 {
        format!(
            r#"<xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="{}"/>"#,
            alg::MGF1_SHA256
        )
    } else {
        String::new()
    };
    let encrypted_key = format!(
        r#"<xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="{transport}">{digest}{mgf}</xenc:EncryptionMethod><xenc:CipherData><xenc:CipherValue>{wrapped}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey>"#,
        transport = how.transport,
        wrapped = b64(&wrapped),
    );
    let (inside, beside) = if how.key_beside {
        (String::new(), encrypted_key)
    } else {
        (
            format!(
                r#"<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{encrypted_key}</ds:KeyInfo>"#
            ),
            String::new(),
        )
    };
    let element = format!(
        r#"<saml2:EncryptedAssertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion"><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element"><xenc:EncryptionMethod Algorithm="{content}"/>{inside}<xenc:CipherData><xenc:CipherValue>{data}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>{beside_wrapped}</saml2:EncryptedAssertion>"#,
        content = how.content,
        data = b64(&data),
        beside_wrapped = beside.replace(
            "<xenc:EncryptedKey>",
            r#"<xenc:EncryptedKey xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">"#
        ),
    );
    format!(
        "{}{element}{}",
        response.get(..start).unwrap(),
        response.get(end..).unwrap()
    )
}

fn gcm_encrypt(key: &[u8], plain: &[u8]) -> Vec<u8> {
    use aes_gcm::aead::{Aead as _, KeyInit as _};
    let mut iv = [0u8; 12];
    getrandom::fill(&mut iv).unwrap();
    let nonce = aes_gcm::aead::generic_array::GenericArray::from_slice(&iv);
    let sealed = if key.len() == 16 {
        aes_gcm::Aes128Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(nonce, plain)
    } else {
        aes_gcm::Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(nonce, plain)
    }
    .unwrap();
    [iv.as_slice(), &sealed].concat()
}

/// AES-CBC with XML Encryption's padding (here the usual PKCS#7 bytes), block by block.
fn cbc_encrypt(key: &[u8], plain: &[u8]) -> Vec<u8> {
    use aes::cipher::{BlockEncrypt as _, KeyInit as _};
    let mut iv = [0u8; 16];
    getrandom::fill(&mut iv).unwrap();
    let pad = 16 - plain.len() % 16;
    let mut data = plain.to_vec();
    data.extend(std::iter::repeat_n(u8::try_from(pad).unwrap(), pad));
    let mut out = iv.to_vec();
    let mut previous = iv;
    for chunk in data.chunks_exact(16) {
        let mut block = aes::Block::default();
        for ((b, p), c) in block.iter_mut().zip(previous).zip(chunk) {
            *b = p ^ c;
        }
        if key.len() == 16 {
            aes::Aes128::new_from_slice(key)
                .unwrap()
                .encrypt_block(&mut block);
        } else {
            aes::Aes256::new_from_slice(key)
                .unwrap()
                .encrypt_block(&mut block);
        }
        previous.copy_from_slice(&block);
        out.extend_from_slice(&block);
    }
    out
}
