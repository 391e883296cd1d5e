//! The `keystore.fortanix.sdkms` block (keystores.md §9.1): the settings of the
//! Fortanix DSM (SDKMS) store and the decoder that is the only place checking
//! them, with file:line errors.

use std::path::PathBuf;

use kes_config::{ConfigError, Ctx, Fields};
use zeroize::Zeroizing;

use crate::config::tls_ca;

/// Fortanix DSM settings (keystores.md §9.1).
#[derive(Clone)]
pub struct FortanixOptions {
    /// Server URL.
    pub endpoint: String,
    /// Group for new objects; `None` = the app's default group.
    pub group_id: Option<String>,
    /// The API key: the base64 of `app-id:secret`, as Fortanix issues it.
    pub api_key: Zeroizing<String>,
    /// CA file or directory; replaces the system roots.
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for FortanixOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FortanixOptions")
            .field("endpoint", &self.endpoint)
            .field("group_id", &self.group_id)
            .field("api_key", &"<redacted>")
            .field("ca", &self.ca)
            .finish()
    }
}

/// Decodes the block: the only validation of its fields.
pub(crate) fn decode(
    f: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<FortanixOptions, ConfigError> {
    const E: &str = "invalid fortanix keystore";
    f.expect_only(ctx, &["endpoint", "group_id", "credentials", "tls"])?;
    let endpoint = f.required(ctx, "endpoint", &format!("{E}: no endpoint specified"))?;
    let group_id = f.text(ctx, "group_id")?;
    let group_id = (!group_id.is_empty()).then_some(group_id);
    let api_key = match f.take_map(ctx, "credentials")? {
        None => {
            return Err(f.missing(ctx, "credentials", &format!("{E}: no API key specified")));
        }
        Some(mut c) => {
            c.expect_only(ctx, &["key"])?;
            let key = c.required_secret(ctx, "key", &format!("{E}: no API key specified"))?;
            c.finish(ctx)?;
            key
        }
    };
    let ca = tls_ca(f, ctx)?;
    Ok(FortanixOptions {
        endpoint,
        group_id,
        api_key: api_key.into_zeroizing(),
        ca,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::KeyStoreConfig;
    use crate::config::tests::decode_ok;

    /// The example of README.md, verbatim.
    const README_EXAMPLE: &str = "keystore:
  fortanix:
    sdkms:
      endpoint: https://sdkms.fortanix.com
      group_id: 4f6b2c1e-8d3a-4e5f-9a0b-1c2d3e4f5a6b
      credentials:
        key: NGY2YjJjMWUtOGQzYS00ZTVmLTlhMGItMWMyZDNlNGY1YTZiOnNlY3JldA==
      tls:
        ca: /etc/kes/fortanix-ca.pem
";

    #[test]
    fn the_readme_example_decodes() {
        let readme = include_str!("../../../../README.md");
        assert!(
            readme.contains(README_EXAMPLE),
            "README.md lost the Fortanix example"
        );
        let KeyStoreConfig::Fortanix(f) = decode_ok(README_EXAMPLE) else {
            panic!("not a Fortanix config")
        };
        assert_eq!(f.endpoint, "https://sdkms.fortanix.com");
        assert_eq!(
            f.group_id.as_deref(),
            Some("4f6b2c1e-8d3a-4e5f-9a0b-1c2d3e4f5a6b")
        );
        assert!(f.api_key.starts_with("NGY2"));
        assert_eq!(f.ca.as_deref(), Some(Path::new("/etc/kes/fortanix-ca.pem")));
        assert!(!format!("{f:?}").contains("NGY2"), "{f:?}");
    }
}
