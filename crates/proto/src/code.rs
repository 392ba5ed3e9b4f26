//! Every stable error code Tessera puts on the wire, in one enum.
//!
//! A code is what a client may branch on: the `error` of a `{"error", "message"}` body
//! ([`crate::ErrorBody`]), of an RFC 6749 §5.2 OAuth error, or the reason an introspection or a log line
//! gives. Each stage's error type in the cores (`tessera_jose::ParseError`, `tessera_authz::CheckError`,
//! ...) maps itself to a [`Code`]; the shells answer with one; the edge reads the origin's answers back
//! into one, so a code cannot be misspelt on either side and the edge passes on exactly the codes it
//! names. The text of a code never changes once released; new codes are added at the end of a section.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! codes {
    ($($variant:ident = $text:literal,)*) => {
        /// A stable error code; see the module documentation. The wire form is [`Code::as_str`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as it appears on the wire (`snake_case`).
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }

        impl FromStr for Code {
            type Err = UnknownCode;

            fn from_str(s: &str) -> Result<Self, UnknownCode> {
                match s {
                    $($text => Ok(Code::$variant),)*
                    _ => Err(UnknownCode),
                }
            }
        }
    };
}

codes! {
    // Requests and bodies (edge and origin)
    InvalidRequest = "invalid_request",
    InvalidBody = "invalid_body",
    BodyTooLarge = "body_too_large",
    RequestTooLarge = "request_too_large",
    NotFound = "not_found",
    MethodNotAllowed = "method_not_allowed",
    InternalError = "internal_error",
    EdgeMisconfigured = "edge_misconfigured",
    InvalidTenant = "invalid_tenant",
    InvalidUsername = "invalid_username",
    InvalidDisplayName = "invalid_display_name",
    InvalidPermission = "invalid_permission",
    InvalidRole = "invalid_role",
    InvalidCursor = "invalid_cursor",
    // Service credentials, OAuth 2.0 (RFC 6749 §5.2, RFC 8707) and bearer tokens
    Unauthorized = "unauthorized",
    InvalidClient = "invalid_client",
    InvalidGrant = "invalid_grant",
    InvalidScope = "invalid_scope",
    InvalidTarget = "invalid_target",
    UnsupportedGrantType = "unsupported_grant_type",
    SessionRevoked = "session_revoked",
    WrongTenant = "wrong_tenant",
    ReauthenticationRequired = "reauthentication_required",
    CeremonyNotYours = "ceremony_not_yours",
    // Availability
    OriginUnavailable = "origin_unavailable",
    OriginRefused = "origin_refused",
    ConsistencyUnavailable = "consistency_unavailable",
    TemporarilyUnavailable = "temporarily_unavailable",
    SignerUnavailable = "signer_unavailable",
    VerifierUnavailable = "verifier_unavailable",
    StoreUnavailable = "store_unavailable",
    RevisionUnavailable = "revision_unavailable",
    NoSigningKey = "no_signing_key",
    // Tokens: parsing (tessera_jose::ParseError)
    MalformedToken = "malformed_token",
    TokenTooLarge = "token_too_large",
    InvalidBase64 = "invalid_base64",
    InvalidHeader = "invalid_header",
    InvalidPayload = "invalid_payload",
    InvalidSignatureEncoding = "invalid_signature_encoding",
    UnsupportedAlg = "unsupported_alg",
    WrongTokenType = "wrong_token_type",
    MissingKid = "missing_kid",
    ForbiddenHeader = "forbidden_header",
    UnknownCrit = "unknown_crit",
    // Tokens: validation (tessera_jose::ValidationError)
    UnknownKid = "unknown_kid",
    BadSignature = "bad_signature",
    MissingClaim = "missing_claim",
    InvalidClaim = "invalid_claim",
    TokenExpired = "token_expired",
    TokenNotYetValid = "token_not_yet_valid",
    TokenIssuedInFuture = "token_issued_in_future",
    WrongIssuer = "wrong_issuer",
    WrongAudience = "wrong_audience",
    // Keys, sealing and lifetimes (tessera_jose)
    JwkMalformed = "jwk_malformed",
    JwkUnsupportedKeyType = "jwk_unsupported_key_type",
    JwkInvalidPoint = "jwk_invalid_point",
    JwkPrivateMaterial = "jwk_private_material",
    JwkWrongUse = "jwk_wrong_use",
    SealedKeyMalformed = "sealed_key_malformed",
    SealedKeyUnauthentic = "sealed_key_unauthentic",
    TokenEncodingFailed = "token_encoding_failed",
    MaxTokenTtlTooShort = "max_token_ttl_too_short",
    TokenTtlAboveMax = "token_ttl_above_max",
    // Client secrets (tessera_authn::client_secret)
    ClientSecretMismatch = "client_secret_mismatch",
    ClientHashUnreadable = "client_hash_unreadable",
    ClientSaltInvalid = "client_salt_invalid",
    ClientNotFound = "client_not_found",
    // Passkeys (tessera_authn::webauthn) and their ceremonies
    ChallengeUnknown = "challenge_unknown",
    ChallengeExpired = "challenge_expired",
    ChallengeKeyUnusable = "challenge_key_unusable",
    ChallengePayloadTooLarge = "challenge_payload_too_large",
    ChallengeMismatch = "challenge_mismatch",
    ClientDataMalformed = "client_data_malformed",
    WrongCeremonyType = "wrong_ceremony_type",
    OriginNotAllowed = "origin_not_allowed",
    CrossOriginNotAllowed = "cross_origin_not_allowed",
    TopOriginNotAllowed = "top_origin_not_allowed",
    RpIdMismatch = "rp_id_mismatch",
    UserNotPresent = "user_not_present",
    UserNotVerified = "user_not_verified",
    BackupStateInvalid = "backup_state_invalid",
    AuthenticatorDataMalformed = "authenticator_data_malformed",
    CredentialDataMissing = "credential_data_missing",
    CredentialIdLength = "credential_id_length",
    CredentialIdMismatch = "credential_id_mismatch",
    AttestationMalformed = "attestation_malformed",
    AttestationUnsupported = "attestation_unsupported",
    AttestationInvalid = "attestation_invalid",
    PublicKeyMalformed = "public_key_malformed",
    AlgorithmNotAllowed = "algorithm_not_allowed",
    SignatureMalformed = "signature_malformed",
    SignatureInvalid = "signature_invalid",
    SignCountRegressed = "sign_count_regressed",
    UserHandleMissing = "user_handle_missing",
    UserHandleMismatch = "user_handle_mismatch",
    PasskeyRefused = "passkey_refused",
    // Accounts at the origin
    UsernameTaken = "username_taken",
    UsernameReserved = "username_reserved",
    CredentialExists = "credential_exists",
    UnknownUser = "unknown_user",
    UnknownCredential = "unknown_credential",
    UnknownSession = "unknown_session",
    CounterConflict = "counter_conflict",
    RefreshInvalid = "refresh_invalid",
    RefreshReused = "refresh_reused",
    SessionInactive = "session_inactive",
    HandoffInvalid = "handoff_invalid",
    SsoNotConfigured = "sso_not_configured",
    LastPasskey = "last_passkey",
    // One-time codes (tessera_authn::totp and the failure budget)
    TotpMalformed = "totp_malformed",
    TotpMismatch = "totp_mismatch",
    TotpReplayed = "totp_replayed",
    TotpBadParams = "totp_bad_params",
    TotpBadSecret = "totp_bad_secret",
    TotpAlreadyEnrolled = "totp_already_enrolled",
    TotpNotEnrolled = "totp_not_enrolled",
    TotpLocked = "totp_locked",
    // Account recovery codes (tessera_authn::recovery); a recovery session must add a passkey first
    RecoveryMalformed = "recovery_malformed",
    RecoveryInvalid = "recovery_invalid",
    RecoveryLocked = "recovery_locked",
    PasskeyRequired = "passkey_required",
    // Authorization: schemas, relationships, questions (tessera_authz)
    NoSchema = "no_schema",
    SchemaSyntax = "schema_syntax",
    SchemaInvalid = "schema_invalid",
    SchemaUnsupported = "schema_unsupported",
    SchemaBreaksRelationships = "schema_breaks_relationships",
    ModelMalformed = "model_malformed",
    ModelInvalid = "model_invalid",
    ModelUnsupported = "model_unsupported",
    UnknownType = "unknown_type",
    UnknownPermission = "unknown_permission",
    NotARelation = "not_a_relation",
    SubjectNotAllowed = "subject_not_allowed",
    RelationshipSyntax = "relationship_syntax",
    RelationshipExists = "relationship_exists",
    DuplicateUpdate = "duplicate_update",
    PreconditionFailed = "precondition_failed",
    DepthExceeded = "depth_exceeded",
    ZookieMalformed = "zookie_malformed",
    ZookieInvalid = "zookie_invalid",
    ForbiddenSubject = "forbidden_subject",
    TokenWithoutSubject = "token_without_subject",
    TokenWithoutTenant = "token_without_tenant",
    CaveatContextInvalid = "caveat_context_invalid",
    CaveatFailed = "caveat_failed",
    // SAML: reading XML strictly (tessera_saml::ReadError)
    SamlTooLarge = "saml_too_large",
    SamlUnsupportedEncoding = "saml_unsupported_encoding",
    SamlDoctype = "saml_doctype",
    SamlProcessingInstruction = "saml_processing_instruction",
    SamlTooManyNodes = "saml_too_many_nodes",
    SamlTooDeep = "saml_too_deep",
    SamlMalformedXml = "saml_malformed_xml",
    SamlDuplicateId = "saml_duplicate_id",
    SamlMissingElement = "saml_missing_element",
    SamlDuplicateElement = "saml_duplicate_element",
    SamlMissingAttribute = "saml_missing_attribute",
    SamlValueNotText = "saml_value_not_text",
    // SAML: certificates and keys (tessera_saml::KeyError)
    SamlCertificateMalformed = "saml_certificate_malformed",
    SamlKeyUnsupported = "saml_key_unsupported",
    SamlKeyTooSmall = "saml_key_too_small",
    SamlKeyMalformed = "saml_key_malformed",
    // SAML: identity provider metadata (tessera_saml::MetadataError)
    SamlMetadataNotMetadata = "saml_metadata_not_metadata",
    SamlMetadataNotIdp = "saml_metadata_not_idp",
    SamlMetadataSeveralIdps = "saml_metadata_several_idps",
    SamlMetadataNotSaml2 = "saml_metadata_not_saml2",
    SamlMetadataMissingEntityId = "saml_metadata_missing_entity_id",
    SamlMetadataNoSsoService = "saml_metadata_no_sso_service",
    SamlMetadataInvalidUrl = "saml_metadata_invalid_url",
    SamlMetadataInsecureUrl = "saml_metadata_insecure_url",
    SamlMetadataInvalidValue = "saml_metadata_invalid_value",
    SamlMetadataKeyDescriptor = "saml_metadata_key_descriptor",
    SamlMetadataNoSigningKey = "saml_metadata_no_signing_key",
    // SAML: exclusive XML canonicalisation (tessera_saml::C14nError)
    SamlC14nInvalidPrefix = "saml_c14n_invalid_prefix",
    SamlC14nExcludedOutside = "saml_c14n_excluded_outside",
    SamlC14nNameUnreadable = "saml_c14n_name_unreadable",
    // SAML: XML-DSig enveloped signatures (tessera_saml::SignatureError)
    SamlSignatureMissing = "saml_signature_missing",
    SamlWrapping = "saml_wrapping",
    SamlAlgorithmRefused = "saml_algorithm_refused",
    SamlTransformRefused = "saml_transform_refused",
    SamlReferenceInvalid = "saml_reference_invalid",
    SamlDigestMismatch = "saml_digest_mismatch",
    SamlSignatureInvalid = "saml_signature_invalid",
    // SAML: a Response and its assertion (tessera_saml::ResponseError)
    SamlMalformed = "saml_malformed",
    SamlStatusNotSuccess = "saml_status_not_success",
    SamlIssuerMismatch = "saml_issuer_mismatch",
    SamlDestinationMismatch = "saml_destination_mismatch",
    SamlRecipientMismatch = "saml_recipient_mismatch",
    SamlAudienceMismatch = "saml_audience_mismatch",
    SamlExpired = "saml_expired",
    SamlNotYetValid = "saml_not_yet_valid",
    SamlInResponseToMismatch = "saml_in_response_to_mismatch",
    SamlSubjectUnconfirmed = "saml_subject_unconfirmed",
    SamlEncryptedUnsupported = "saml_encrypted_unsupported",
    SamlDecryptionFailed = "saml_decryption_failed",
    // SAML: the origin's connections, sign-in requests and replay cache (tessera_origin::saml)
    SamlConnectionNotFound = "saml_connection_not_found",
    SamlConnectionExists = "saml_connection_exists",
    SamlConnectionNameInvalid = "saml_connection_name_invalid",
    SamlDomainTaken = "saml_domain_taken",
    SamlDomainInvalid = "saml_domain_invalid",
    SamlAttributeMapInvalid = "saml_attribute_map_invalid",
    SamlRelayAllowListInvalid = "saml_relay_allow_list_invalid",
    SamlNameIdFormatInvalid = "saml_name_id_format_invalid",
    SamlPostSigningUnsupported = "saml_post_signing_unsupported",
    SamlSpKeyUnusable = "saml_sp_key_unusable",
    SamlRelayStateRefused = "saml_relay_state_refused",
    SamlRequestUnknown = "saml_request_unknown",
    SamlAssertionReplayed = "saml_assertion_replayed",
    SamlFormMalformed = "saml_form_malformed",
    SamlResponseMissing = "saml_response_missing",
    SamlResponseNotBase64 = "saml_response_not_base64",
    SamlUnsolicited = "saml_unsolicited",
    SamlNotReauthenticated = "saml_not_reauthenticated",
    // SAML: who a verified sign-in is (tessera_origin::saml::people)
    SamlNoStableKey = "saml_no_stable_key",
    SamlTooManyGroups = "saml_too_many_groups",
    SamlUserInactive = "saml_user_inactive",
    SamlGroupsUnwritable = "saml_groups_unwritable",
    // Regions (tessera_origin::region): a replica's origin and the primary region
    PrimaryUnavailable = "primary_unavailable",
    ReplicaStale = "replica_stale",
    // OpenID Connect and the authorization endpoint (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, RFC 7009,
    // RFC 6750 §3.1)
    UnauthorizedClient = "unauthorized_client",
    UnsupportedResponseType = "unsupported_response_type",
    AccessDenied = "access_denied",
    LoginRequired = "login_required",
    ConsentRequired = "consent_required",
    InteractionRequired = "interaction_required",
    RequestNotSupported = "request_not_supported",
    RequestUriNotSupported = "request_uri_not_supported",
    InvalidRedirectUri = "invalid_redirect_uri",
    UnsupportedTokenType = "unsupported_token_type",
    InvalidToken = "invalid_token",
    InsufficientScope = "insufficient_scope",
    AuthorizationRequestInvalid = "authorization_request_invalid",
}

/// A string that is not one of the [`Code`]s (a newer peer's, or not a code at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCode;

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a Tessera error code")
    }
}

impl std::error::Error for UnknownCode {}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Comparing with the wire text, for tests and for reading a peer's body.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Code> for &str {
    fn eq(&self, other: &Code) -> bool {
        *self == other.as_str()
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse()
            .map_err(|_| serde::de::Error::custom(format_args!("unknown error code `{text}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_and_is_snake_case() {
        for &code in Code::ALL {
            let text = code.as_str();
            assert_eq!(text.parse::<Code>(), Ok(code));
            assert!(
                !text.is_empty()
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    && !text.starts_with('_')
                    && !text.ends_with('_'),
                "{text}"
            );
        }
    }

    #[test]
    fn codes_are_distinct() {
        let mut texts: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        texts.sort_unstable();
        let before = texts.len();
        texts.dedup();
        assert_eq!(texts.len(), before);
    }

    #[test]
    fn json_is_the_plain_string() {
        assert_eq!(
            serde_json::to_string(&Code::TotpLocked).ok().as_deref(),
            Some("\"totp_locked\"")
        );
        assert_eq!(
            serde_json::from_str::<Code>("\"depth_exceeded\"").ok(),
            Some(Code::DepthExceeded)
        );
        assert!(serde_json::from_str::<Code>("\"no_such_code\"").is_err());
        assert_eq!("Totp_Locked".parse::<Code>(), Err(UnknownCode));
    }
}
