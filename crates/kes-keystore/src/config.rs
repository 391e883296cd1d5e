//! The `keystore:` section of the config file (spec §9, keystores.md): which
//! back end is configured, and connecting to it.
//!
//! This module is the registry of back ends: [`BACKENDS`] names each one's
//! field under `keystore:` (and the service block inside a vendor block,
//! e.g. `aws.secretsmanager`) and its decoder, which lives in the back end's
//! own `config.rs` and is the only definition and validation of its block.
//! [`KeyStoreConfig::connect`] turns the decoded block into a store. The
//! server hands over the section's fields and gets back a
//! [`KeyStoreConfig`]; it names no back end.
//!
//! Every back end's config is always built, so that a config naming a back
//! end whose cargo feature is off is still checked; connecting to it is a
//! start-up error naming the feature. Retired shapes the guides still show
//! (the removed `kes` key store) are accepted with a warning; the old
//! `keystore.secretsmanager` (without `aws:`) is migrated with a warning.

use std::path::PathBuf;
use std::sync::Arc;

use kes_config::{ConfigError, Ctx, Fields};

use crate::{KeyStore, KeyStoreError};
use crate::{aws, azure, entrust, fortanix, gcp, gemalto, kmip, vault};

/// The configured key store back end, decoded and validated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeyStoreConfig {
    /// A directory with one file per key (`keystore.fs`).
    Fs {
        /// The directory (created if missing).
        path: PathBuf,
    },
    /// HashiCorp Vault / OpenBao K/V (`keystore.vault`).
    Vault(vault::VaultOptions),
    /// AWS Secrets Manager (`keystore.aws.secretsmanager`).
    Aws(aws::AwsOptions),
    /// Thales CipherTrust / Gemalto KeySecure (`keystore.gemalto.keysecure`).
    Gemalto(gemalto::KeySecureOptions),
    /// Entrust KeyControl (`keystore.entrust.keycontrol`).
    Entrust(entrust::KeyControlOptions),
    /// Fortanix DSM (`keystore.fortanix.sdkms`).
    Fortanix(fortanix::FortanixOptions),
    /// Google Cloud Secret Manager (`keystore.gcp.secretmanager`).
    Gcp(gcp::GcpOptions),
    /// Azure Key Vault (`keystore.azure.keyvault`).
    Azure(azure::AzureOptions),
    /// A KMIP server (`keystore.kmip`).
    Kmip(kmip::KmipOptions),
}

/// One back end in the registry.
struct Backend {
    /// Its field under `keystore:`.
    field: &'static str,
    /// The service block inside the vendor block (`aws.secretsmanager`), if
    /// the back end's settings sit one level down.
    service: Option<&'static str>,
    /// Decodes the back end's settings block.
    decode: fn(&mut Fields<'_>, &mut Ctx<'_>) -> Result<KeyStoreConfig, ConfigError>,
}

/// Every back end, in the order of keystores.md. Adding one is one line
/// here, one variant of [`KeyStoreConfig`] and one arm of
/// [`KeyStoreConfig::connect`].
const BACKENDS: &[Backend] = &[
    Backend {
        field: "fs",
        service: None,
        decode: decode_fs,
    },
    Backend {
        field: "vault",
        service: None,
        decode: |b, ctx| vault::decode(b, ctx).map(KeyStoreConfig::Vault),
    },
    Backend {
        field: "aws",
        service: Some("secretsmanager"),
        decode: |b, ctx| aws::decode(b, ctx).map(KeyStoreConfig::Aws),
    },
    Backend {
        field: "gemalto",
        service: Some("keysecure"),
        decode: |b, ctx| gemalto::decode(b, ctx).map(KeyStoreConfig::Gemalto),
    },
    Backend {
        field: "entrust",
        service: Some("keycontrol"),
        decode: |b, ctx| entrust::decode(b, ctx).map(KeyStoreConfig::Entrust),
    },
    Backend {
        field: "fortanix",
        service: Some("sdkms"),
        decode: |b, ctx| fortanix::decode(b, ctx).map(KeyStoreConfig::Fortanix),
    },
    Backend {
        field: "gcp",
        service: Some("secretmanager"),
        decode: |b, ctx| gcp::decode(b, ctx).map(KeyStoreConfig::Gcp),
    },
    Backend {
        field: "azure",
        service: Some("keyvault"),
        decode: |b, ctx| azure::decode(b, ctx).map(KeyStoreConfig::Azure),
    },
    Backend {
        field: "kmip",
        service: None,
        decode: |b, ctx| kmip::decode(b, ctx).map(KeyStoreConfig::Kmip),
    },
];

/// The old spelling of `aws.secretsmanager` (pre-v0.17), migrated with a
/// warning.
const OLD_AWS: &str = "secretsmanager";

/// Decodes the `keystore:` mapping (or the old `keys:` one): exactly one
/// back end, by that back end's own decoder.
pub fn decode(mut fields: Fields<'_>, ctx: &mut Ctx<'_>) -> Result<KeyStoreConfig, ConfigError> {
    // The back-end fields, the old AWS spelling right after `aws`.
    let mut names: Vec<&str> = Vec::new();
    for backend in BACKENDS {
        names.push(backend.field);
        if backend.field == "aws" {
            names.push(OLD_AWS);
        }
    }
    let present: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| fields.has(name))
        .collect();
    names.extend(["kes", "generic"]);
    fields.expect_only(ctx, &names)?;
    if let (Some(first), Some(second)) = (present.first(), present.get(1)) {
        return Err(ctx.invalid(
            fields.line_of(second),
            &fields.child(second),
            format!(
                "invalid keystore config: more than once keystore specified \
                 ('{first}' and '{second}')"
            ),
        ));
    }

    let removed_kes = retired_kes(&mut fields, ctx)?;
    if let Some((key, _)) = fields.take_entry("generic") {
        return Err(ctx.invalid(
            key.line,
            &fields.child("generic"),
            "the 'generic' key store (KES key store plugin) was removed in 2023 and is \
             not supported",
        ));
    }

    let Some(name) = present.first().copied() else {
        let line = fields.line();
        let path = fields.path().to_owned();
        fields.finish(ctx)?;
        let hint = if removed_kes {
            " (the removed 'kes' key store does not count)"
        } else {
            ""
        };
        return Err(ctx.invalid(line, &path, format!("no keystore specified{hint}")));
    };
    let config = if name == OLD_AWS {
        let mut block = take_block(&mut fields, ctx, OLD_AWS)?;
        ctx.warn(
            block.line(),
            block.path(),
            "deprecated: 'keystore.secretsmanager' is the old spelling of \
             'keystore.aws.secretsmanager'; treated as aws.secretsmanager",
        );
        let config = aws::decode(&mut block, ctx).map(KeyStoreConfig::Aws)?;
        block.finish(ctx)?;
        config
    } else {
        let backend = BACKENDS
            .iter()
            .find(|b| b.field == name)
            .ok_or_else(|| ctx.invalid(fields.line(), fields.path(), "no keystore specified"))?;
        decode_backend(&mut fields, ctx, backend)?
    };
    fields.finish(ctx)?;
    Ok(config)
}

/// Decodes `backend`'s block (known to be present in `fields`), looking
/// inside its service block if it has one.
fn decode_backend(
    fields: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
    backend: &Backend,
) -> Result<KeyStoreConfig, ConfigError> {
    let mut block = take_block(fields, ctx, backend.field)?;
    let Some(inner) = backend.service else {
        let config = (backend.decode)(&mut block, ctx)?;
        block.finish(ctx)?;
        return Ok(config);
    };
    block.expect_only(ctx, &[inner])?;
    let Some(mut service) = block.take_map(ctx, inner)? else {
        return Err(ctx.invalid(
            block.line(),
            block.path(),
            format!("invalid keystore config: missing '{inner}' block"),
        ));
    };
    let config = (backend.decode)(&mut service, ctx)?;
    service.finish(ctx)?;
    block.finish(ctx)?;
    Ok(config)
}

/// Takes field `name` (known to be present) as a mapping.
fn take_block<'n>(
    fields: &mut Fields<'n>,
    ctx: &Ctx<'_>,
    name: &'static str,
) -> Result<Fields<'n>, ConfigError> {
    fields
        .take_map(ctx, name)?
        .ok_or_else(|| ctx.invalid(fields.line(), fields.path(), "no keystore specified"))
}

/// Accepts the removed `kes` key store block with a warning; whether it was
/// there.
fn retired_kes(fields: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<bool, ConfigError> {
    let Some(mut kes) = fields.take_map(ctx, "kes")? else {
        return Ok(false);
    };
    ctx.warn(
        kes.line(),
        kes.path(),
        "the 'kes' key store was removed from KES; this block has no effect",
    );
    kes.take("endpoint");
    kes.take("enclave");
    if let Some(mut tls) = kes.take_map(ctx, "tls")? {
        for name in ["cert", "key", "ca"] {
            tls.take(name);
        }
        tls.finish(ctx)?;
    }
    kes.finish(ctx)?;
    Ok(true)
}

/// Decodes the `fs` block.
fn decode_fs(block: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<KeyStoreConfig, ConfigError> {
    block.expect_only(ctx, &["path"])?;
    let Some(path) = block.path_opt(ctx, "path")? else {
        return Err(block.missing(ctx, "path", "invalid fs keystore: no path specified"));
    };
    Ok(KeyStoreConfig::Fs { path })
}

/// A `tls:` block that only holds `ca` (the appliance stores').
pub(crate) fn tls_ca(
    fields: &mut Fields<'_>,
    ctx: &Ctx<'_>,
) -> Result<Option<PathBuf>, ConfigError> {
    let Some(mut tls) = fields.take_map(ctx, "tls")? else {
        return Ok(None);
    };
    let ca = tls.path_opt(ctx, "ca")?;
    tls.finish(ctx)?;
    Ok(ca)
}

impl KeyStoreConfig {
    /// Connects to the configured key store (logging in where the back end
    /// needs it). Errors name the back end and what went wrong; a back end
    /// this build left out (its cargo feature is off) is an `InvalidConfig`
    /// naming the feature.
    pub async fn connect(&self) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
        match self {
            KeyStoreConfig::Fs { path } => {
                let path = path.clone();
                let store = tokio::task::spawn_blocking(move || crate::fs::FsKeyStore::open(path))
                    .await
                    .map_err(|e| {
                        KeyStoreError::backend("fs", format!("open task failed: {e}"))
                    })??;
                Ok(Arc::new(store))
            }
            #[cfg(feature = "vault")]
            KeyStoreConfig::Vault(c) => {
                Ok(Arc::new(vault::VaultKeyStore::connect(c.clone()).await?))
            }
            #[cfg(not(feature = "vault"))]
            KeyStoreConfig::Vault(_) => compiled_out("HashiCorp Vault", "vault"),
            #[cfg(feature = "aws")]
            KeyStoreConfig::Aws(c) => {
                Ok(Arc::new(aws::AwsSecretsManagerKeyStore::connect(c).await?))
            }
            #[cfg(not(feature = "aws"))]
            KeyStoreConfig::Aws(_) => compiled_out("AWS SecretsManager", "aws"),
            #[cfg(feature = "gemalto")]
            KeyStoreConfig::Gemalto(c) => Ok(Arc::new(
                gemalto::KeySecureKeyStore::connect(c.clone()).await?,
            )),
            #[cfg(not(feature = "gemalto"))]
            KeyStoreConfig::Gemalto(_) => compiled_out("Gemalto KeySecure", "gemalto"),
            #[cfg(feature = "entrust")]
            KeyStoreConfig::Entrust(c) => Ok(Arc::new(
                entrust::EntrustKeyStore::connect(c.clone()).await?,
            )),
            #[cfg(not(feature = "entrust"))]
            KeyStoreConfig::Entrust(_) => compiled_out("Entrust KeyControl", "entrust"),
            #[cfg(feature = "fortanix")]
            KeyStoreConfig::Fortanix(c) => Ok(Arc::new(
                fortanix::FortanixKeyStore::connect(c.clone()).await?,
            )),
            #[cfg(not(feature = "fortanix"))]
            KeyStoreConfig::Fortanix(_) => compiled_out("Fortanix SDKMS", "fortanix"),
            #[cfg(feature = "gcp")]
            KeyStoreConfig::Gcp(c) => Ok(Arc::new(gcp::GcpKeyStore::connect(c.clone()).await?)),
            #[cfg(not(feature = "gcp"))]
            KeyStoreConfig::Gcp(_) => compiled_out("GCP SecretManager", "gcp"),
            #[cfg(feature = "azure")]
            KeyStoreConfig::Azure(c) => Ok(Arc::new(
                azure::AzureKeyVaultStore::connect(c.clone()).await?,
            )),
            #[cfg(not(feature = "azure"))]
            KeyStoreConfig::Azure(_) => compiled_out("Azure KeyVault", "azure"),
            #[cfg(feature = "kmip")]
            KeyStoreConfig::Kmip(c) => Ok(Arc::new(kmip::KmipKeyStore::connect(c.clone()).await?)),
            #[cfg(not(feature = "kmip"))]
            KeyStoreConfig::Kmip(_) => compiled_out("KMIP", "kmip"),
        }
    }
}

/// A back end this build left out (its cargo feature is off).
#[cfg(not(all(
    feature = "vault",
    feature = "aws",
    feature = "entrust",
    feature = "gemalto",
    feature = "azure",
    feature = "gcp",
    feature = "fortanix",
    feature = "kmip"
)))]
fn compiled_out(name: &str, feature: &str) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
    Err(KeyStoreError::new(
        crate::ErrorKind::InvalidConfig,
        format!(
            "the {name} key store is not compiled into this build \
             (build kes with the cargo feature `{feature}`)"
        ),
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Decodes the `keystore:` section of config `text` (file `c.yml`).
    fn decode_text(text: &str) -> Result<KeyStoreConfig, ConfigError> {
        let root = kes_config::document(text, "c.yml")?;
        let env = |_: &str| None;
        let mut ctx = Ctx::new("c.yml", &env);
        let mut top = ctx.map(&root, "", 1)?;
        let section = top.take_map(&ctx, "keystore")?.expect("a keystore section");
        decode(section, &mut ctx)
    }

    /// The decoded `keystore:` section of `text`.
    pub(crate) fn decode_ok(text: &str) -> KeyStoreConfig {
        decode_text(text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The error text of decoding the `keystore:` section of `text`.
    pub(crate) fn decode_err(text: &str) -> String {
        decode_text(text).expect_err("an error").to_string()
    }

    #[test]
    fn exactly_one_backend() {
        let e = decode_err("keystore:\n  fs: {path: /k}\n  vault: {endpoint: http://v}\n");
        assert_eq!(
            e,
            "c.yml:3: keystore.vault: invalid keystore config: more than once keystore \
             specified ('fs' and 'vault')"
        );
        let e = decode_err("keystore:\n  kes: {endpoint: x}\n");
        assert!(
            e.ends_with("no keystore specified (the removed 'kes' key store does not count)"),
            "{e}"
        );
        assert!(matches!(
            decode_ok("keystore:\n  fs:\n    path: /k\n"),
            KeyStoreConfig::Fs { .. }
        ));
    }

    #[test]
    fn old_aws_spelling_is_migrated() {
        let c = decode_ok("keystore:\n  secretsmanager: {endpoint: http://h, region: us-east-1}\n");
        assert!(matches!(c, KeyStoreConfig::Aws(_)));
    }

    /// The server spawns start-up and reloads on tokio: connecting to any
    /// back end must be a `Send` future.
    #[test]
    fn connect_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let c = decode_ok("keystore:\n  fs: {path: /k}\n");
        assert_send(&c.connect());
    }
}
