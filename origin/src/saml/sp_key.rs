//! Our key for one connection: RSA-2048, drawn when the connection is created, with a self-signed
//! certificate (ten years; the IdP pins it, as we pin theirs, so its dates and name are informative:
//! CN = our entity ID for that connection). It signs AuthnRequests when the IdP wants them signed
//! (HTTP-Redirect binding, `rsa-sha256`) and will decrypt `EncryptedAssertion`s.
//!
//! At rest the private key is sealed like TOTP secrets (`tessera_jose::seal`: AES-256-GCM under the
//! origin's secrets key, PKCS#8 DER inside), bound to its tenant and connection by the associated data,
//! so a sealed key copied to another connection's row does not open. In memory it is an [`SpKey`]:
//! no `Debug` of the key, no `Serialize`, and the private key only through
//! [`SpKey::expose_private_key`].

use std::time::Duration;

use rsa::pkcs1v15::{Signature, SigningKey};
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use tessera_jose::{seal, Secret};
use tessera_proto::saml::ConnectionId;
use tessera_proto::{TenantId, UnixTime};
use tessera_saml::{Certificate, PublicKey};
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::der::asn1::Utf8StringRef;
use x509_cert::der::{Any, DateTime, Decode as _, Encode as _};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};
use x509_cert::TbsCertificate;

use super::SamlError;

/// The size of the keys we draw.
pub const SP_KEY_BITS: usize = 2048;
/// How long our certificates are valid (informative: the IdP pins the certificate).
pub const SP_CERTIFICATE_DAYS: u64 = 3653;
/// `SigAlg` of the HTTP-Redirect binding's signature (RSA PKCS#1 v1.5 with SHA-256).
pub const SIG_ALG_RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// Our private key for one connection, and its certificate.
pub struct SpKey {
    key: rsa::PrivateKey,
    certificate: Certificate,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKey")
            .field("key", &"_")
            .field(
                "certificate_sha256",
                &super::hex(&self.certificate.sha256_fingerprint()),
            )
            .finish()
    }
}

/// A self-signed certificate: issuer = subject, no extensions.
struct SelfSigned(Name);

impl Profile for SelfSigned {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.0.clone()
    }
    fn get_subject(&self) -> Name {
        self.0.clone()
    }
    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(Vec::new())
    }
}

fn key_error(what: &str) -> impl Fn(&dyn std::fmt::Display) -> SamlError + '_ {
    move |e| SamlError::SpKey(format!("{what}: {e}"))
}

/// `CN={common_name}` as a UTF8String (built, not parsed: an entity ID holds `/`, `:` and maybe `=`).
fn common_name(common_name: &str) -> Result<Name, SamlError> {
    let err = key_error("certificate name");
    let value = Utf8StringRef::new(common_name).map_err(|e| err(&e))?;
    let mut rdn = RelativeDistinguishedName::default();
    rdn.insert(x509_cert::attr::AttributeTypeAndValue {
        oid: COMMON_NAME,
        value: Any::encode_from(&value).map_err(|e| err(&e))?,
    })
    .map_err(|e| err(&e))?;
    let mut rdns = RdnSequence::default();
    rdns.push(rdn);
    let der = rdns.to_der().map_err(|e| err(&e))?;
    Name::from_der(&der).map_err(|e| err(&e))
}

fn aad(tenant: &TenantId, connection: &ConnectionId) -> Vec<u8> {
    [
        b"tessera-saml-sp-key-v1\0".as_slice(),
        tenant.as_str().as_bytes(),
        b"\0",
        connection.as_str().as_bytes(),
    ]
    .concat()
}

impl SpKey {
    /// Draw a new RSA-2048 key and certify it ourselves: `CN={common_name}`, valid from `now` for
    /// [`SP_CERTIFICATE_DAYS`]. Costs a key generation (tens to hundreds of milliseconds): call it off
    /// the async executor.
    ///
    /// # Errors
    /// [`SamlError::SpKey`] (randomness, or a name the certificate cannot hold).
    pub fn generate(common_name_text: &str, now: UnixTime) -> Result<Self, SamlError> {
        let key = rsa::PrivateKey::new(&mut crate::OsRng, SP_KEY_BITS)
            .map_err(|e| SamlError::SpKey(format!("key generation: {e}")))?;
        let err = key_error("certificate");
        let name = common_name(common_name_text)?;
        let spki =
            SubjectPublicKeyInfoOwned::from_key(&key.to_public_key()).map_err(|e| err(&e))?;
        let mut serial: [u8; 16] =
            crate::random_bytes().map_err(|e| SamlError::Randomness(e.to_string()))?;
        // A positive INTEGER with no leading zero byte.
        serial[0] = (serial[0] & 0x7f) | 0x40;
        let start = u64::try_from(now.as_secs()).unwrap_or(0);
        let at = |secs: u64| -> Result<Time, SamlError> {
            DateTime::from_unix_duration(Duration::from_secs(secs))
                .map(Time::from)
                .map_err(|e| err(&e))
        };
        let validity = Validity::new(
            at(start)?,
            at(start.saturating_add(SP_CERTIFICATE_DAYS * 86_400))?,
        );
        let serial = SerialNumber::new(&serial).map_err(|e| err(&e))?;
        let builder = CertificateBuilder::new(SelfSigned(name), serial, validity, spki)
            .map_err(|e| err(&e))?;
        let signer = SigningKey::<Sha256>::new(key.clone());
        let der = builder
            .build::<_, Signature>(&signer)
            .map_err(|e| err(&e))?
            .to_der()
            .map_err(|e| err(&e))?;
        let certificate = Certificate::from_der(der).map_err(|e| err(&e))?;
        Ok(Self { key, certificate })
    }

    /// The key sealed for `tenant`'s `connection` under `secrets_key` (what the store keeps).
    ///
    /// # Errors
    /// [`SamlError::SpKey`], [`SamlError::Randomness`].
    pub fn seal(
        &self,
        secrets_key: &Secret<[u8; 32]>,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<String, SamlError> {
        let der = self
            .key
            .to_pkcs8_der()
            .map_err(|e| SamlError::SpKey(format!("encoding: {e}")))?;
        let nonce: [u8; 12] =
            crate::random_bytes().map_err(|e| SamlError::Randomness(e.to_string()))?;
        seal::seal(
            secrets_key,
            &nonce,
            &aad(tenant, connection),
            der.as_bytes(),
        )
        .map_err(|e| SamlError::SpKey(format!("sealing: {e}")))
    }

    /// Open what [`SpKey::seal`] made, and check it is the key of `certificate`.
    ///
    /// # Errors
    /// [`SamlError::SpKey`]: another secrets key, another connection's sealed key, or a key that does
    /// not match the certificate.
    pub fn open(
        secrets_key: &Secret<[u8; 32]>,
        tenant: &TenantId,
        connection: &ConnectionId,
        sealed: &str,
        certificate: Certificate,
    ) -> Result<Self, SamlError> {
        let der = seal::open(secrets_key, &aad(tenant, connection), sealed).map_err(|e| {
            SamlError::SpKey(format!(
                "the sealed key of connection `{connection}` does not open ({e}): was it created with another TESSERA_SECRETS_KEY?"
            ))
        })?;
        let key = rsa::PrivateKey::from_pkcs8_der(der.expose_secret())
            .map_err(|e| SamlError::SpKey(format!("decoding: {e}")))?;
        match certificate.public_key() {
            PublicKey::Rsa(public) if *public == key.to_public_key() => {
                Ok(Self { key, certificate })
            }
            _ => Err(SamlError::SpKey(format!(
                "the key of connection `{connection}` does not match its certificate"
            ))),
        }
    }

    /// Our certificate.
    #[must_use]
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (the `SigAlg` [`SIG_ALG_RSA_SHA256`]).
    ///
    /// # Errors
    /// [`SamlError::SpKey`] if the RSA operation fails.
    pub fn sign_rsa_sha256(&self, message: &[u8]) -> Result<Vec<u8>, SamlError> {
        SigningKey::<Sha256>::new(self.key.clone())
            .try_sign(message)
            .map(|s| s.to_vec())
            .map_err(|e| SamlError::SpKey(format!("signing: {e}")))
    }

    /// The private key, for decrypting `EncryptedAssertion`s (RSA-OAEP key transport). Greppable on
    /// purpose.
    #[must_use]
    pub fn expose_private_key(&self) -> &rsa::PrivateKey {
        &self.key
    }
}
