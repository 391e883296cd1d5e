//! Decodes the top level of the config tree into a validated
//! [`ServerConfig`]: address, admin, TLS, cache, API overrides, logs,
//! policies and start-up keys (the `keystore:` section is handed to the key-store crate, whose back
//! ends decode their own blocks, and so is `hsm:`, to its seal).
//!
//! The old spellings of spec §9.4 are migrated here, each with one warning.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use kes_types::KeyName;
use kes_types::name::validate_identity;

use kes_config::yaml::{NULL, Node, Value};
use kes_config::{Ctx, Fields, index, join};

use super::{
    ApiConfig, CacheConfig, ConfigError, LogConfig, PolicyConfig, ServerConfig, TlsAuth, TlsConfig,
    TlsLines,
};
use crate::level::Level;
use crate::versions::KeyRotation;

/// Default header of the retired TLS-proxy feature.
const DEFAULT_PROXY_HEADER: &str = "X-Tls-Client-Cert";

/// The top-level fields, including the old `root` and `proxy`.
const TOP_LEVEL: [&str; 13] = [
    "version", "address", "admin", "root", "tls", "proxy", "cache", "api", "log", "policy", "keys",
    "keystore", "hsm",
];

/// Decodes and validates the document root.
pub(crate) fn decode(root: &Node, ctx: &mut Ctx<'_>) -> Result<ServerConfig, ConfigError> {
    if !matches!(root.value, Value::Map(_)) {
        return Err(ctx.syntax(
            root,
            format!("the top level must be a mapping, got {}", root.kind()),
        ));
    }
    let mut top = ctx.map(root, "", root.line)?;
    top.expect_only(ctx, &TOP_LEVEL)?;

    if let Some(node) = top.take("version") {
        let version = ctx.raw_text(node, "version")?;
        if !version.is_empty() && version != "v1" {
            return Err(ctx.invalid(
                node.line,
                "version",
                format!("invalid server config version '{version}' (want \"v1\")"),
            ));
        }
    }

    let address = match top.take("address") {
        None => None,
        Some(node) => {
            let text = ctx.text(node, "address")?;
            parse_address(&text).map_err(|why| ctx.invalid(node.line, "address", why))?
        }
    };

    let admin = decode_admin(&mut top, ctx)?;
    let tls = decode_tls(&mut top, ctx, &admin)?;
    let cache = decode_cache(&mut top, ctx)?;
    let api = decode_api(&mut top, ctx)?;
    let log = decode_log(&mut top, ctx)?;
    let policies = decode_policies(&mut top, ctx, &admin, &tls.proxy_identities)?;

    // `keys:` is a list of keys to create; as a mapping it is the pre-v0.14
    // place of the key store.
    let mut keys = Vec::new();
    let mut rotations = Vec::new();
    let mut old_keystore = None;
    if let Some((key, node)) = top.take_entry("keys") {
        if matches!(node.value, Value::Map(_)) {
            ctx.warn(
                key.line,
                "keys",
                "deprecated: a key store under 'keys:' is the old spelling of 'keystore:'; \
                 treated as 'keystore:' ('keys:' now lists keys to create)",
            );
            old_keystore = Some(ctx.map(node, "keys", key.line)?);
        } else {
            (keys, rotations) = decode_keys(node, ctx)?;
        }
    }
    let new_keystore = top.take_map(ctx, "keystore")?;
    let keystore = match (old_keystore, new_keystore) {
        (Some(_), Some(new)) => {
            return Err(ctx.invalid(
                new.line(),
                "keystore",
                "invalid keystore config: more than once keystore specified \
                 (both 'keystore:' and the old 'keys:' key store)",
            ));
        }
        (Some(fields), None) | (None, Some(fields)) => kes_keystore::config::decode(fields, ctx)?,
        (None, None) => {
            return Err(ctx.invalid(top.line(), "keystore", "no keystore specified"));
        }
    };

    let hsm = match top.take_map(ctx, "hsm")? {
        Some(fields) => Some(kes_keystore::seal::decode(fields, ctx)?),
        None => None,
    };

    top.finish(ctx)?;
    Ok(ServerConfig {
        address,
        admin,
        tls,
        cache,
        api,
        log,
        policies,
        keys,
        rotations,
        keystore,
        hsm,
        warnings: std::mem::take(&mut ctx.warnings),
        source: ctx.file().to_owned(),
    })
}

/// `address`: `ip:port`, `:port` or `[ipv6]:port`; empty → `None`.
fn parse_address(text: &str) -> Result<Option<SocketAddr>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("invalid address '{text}': want [ipv6]:port"))?;
        (host, port)
    } else {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("invalid address '{text}': missing port"))?;
        if host.contains(':') {
            return Err(format!(
                "invalid address '{text}': an IPv6 host must be in brackets, e.g. [::1]:7373"
            ));
        }
        (host, port)
    };
    let ip = if host.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        host.parse::<IpAddr>()
            .map_err(|_| format!("'{host}' is not a valid IP address"))?
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("invalid address '{text}': invalid port '{port}'"))?;
    Ok(Some(SocketAddr::new(ip, port)))
}

/// `admin.identity`, or the old top-level `root:`.
fn decode_admin(top: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<String, ConfigError> {
    let mut identity = String::new();
    let mut line = top.line();
    let mut field = "admin.identity".to_owned();
    if let Some(mut admin) = top.take_map(ctx, "admin")? {
        admin.expect_only(ctx, &["identity"])?;
        line = admin.line_of("identity");
        identity = admin.text(ctx, "identity")?;
        admin.finish(ctx)?;
    }
    if let Some((key, node)) = top.take_entry("root") {
        if !identity.is_empty() {
            return Err(ctx.invalid(
                key.line,
                "root",
                "both 'root' and 'admin.identity' are given; 'root' is the old spelling \
                 of 'admin.identity', remove it",
            ));
        }
        ctx.warn(
            key.line,
            "root",
            "deprecated: 'root' is the old spelling of 'admin.identity'; treated as admin.identity",
        );
        identity = ctx.text(node, "root")?;
        line = key.line;
        field = "root".to_owned();
    }
    if identity.is_empty() {
        return Err(ctx.invalid(line, &field, "invalid admin identity: no admin identity"));
    }
    Ok(identity)
}

/// `tls:`, plus the old top-level `proxy:`.
fn decode_tls(
    top: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
    admin: &str,
) -> Result<TlsConfig, ConfigError> {
    let mut tls = match top.take_map(ctx, "tls")? {
        Some(tls) => tls,
        None => ctx.map(&NULL, "tls", top.line())?,
    };
    tls.expect_only(ctx, &["key", "cert", "password", "auth", "ca", "proxy"])?;
    let key = tls.path_opt(ctx, "key")?;
    let Some(key) = key else {
        return Err(ctx.invalid(
            tls.line_of("key"),
            "tls.key",
            "invalid tls config: no private key",
        ));
    };
    let cert = tls.path_opt(ctx, "cert")?;
    let Some(cert) = cert else {
        return Err(ctx.invalid(
            tls.line_of("cert"),
            "tls.cert",
            "invalid tls config: no certificate",
        ));
    };
    let password = tls.secret(ctx, "password")?;
    let auth = match tls.take("auth") {
        None => TlsAuth::Off,
        Some(node) => {
            let text = ctx.text(node, "tls.auth")?;
            match text.trim().to_ascii_lowercase().as_str() {
                "" | "off" => TlsAuth::Off,
                "on" => TlsAuth::On,
                _ => {
                    return Err(ctx.invalid(
                        node.line,
                        "tls.auth",
                        format!(
                            "invalid tls config: invalid auth '{text}' (want \"on\" or \"off\")"
                        ),
                    ));
                }
            }
        }
    };
    let ca = tls.path_opt(ctx, "ca")?;
    let lines = TlsLines {
        key: tls.line_of("key"),
        cert: tls.line_of("cert"),
        ca: tls.line_of("ca"),
    };

    let mut proxy = None;
    if let Some((key, node)) = tls.take_entry("proxy") {
        ctx.warn(
            key.line,
            "tls.proxy",
            "TLS proxy support was removed; this setting has no effect \
             (requests from a proxy are authenticated as the proxy)",
        );
        proxy = Some(ctx.map(node, "tls.proxy", key.line)?);
    }
    tls.finish(ctx)?;
    if let Some((key, node)) = top.take_entry("proxy") {
        if proxy.is_some() {
            return Err(ctx.invalid(
                key.line,
                "proxy",
                "both 'proxy' and 'tls.proxy' are given; 'proxy' is the old spelling \
                 of 'tls.proxy', remove it",
            ));
        }
        ctx.warn(
            key.line,
            "proxy",
            "deprecated: top-level 'proxy' is the old spelling of 'tls.proxy'; \
             TLS proxy support was removed, so it has no effect",
        );
        proxy = Some(ctx.map(node, "proxy", key.line)?);
    }

    let mut proxy_identities = Vec::new();
    let mut proxy_header = DEFAULT_PROXY_HEADER.to_owned();
    if let Some(mut proxy) = proxy {
        if let Some(node) = proxy.take("identities") {
            let field = proxy.child("identities");
            for (i, item) in ctx.list(node, &field)?.iter().enumerate() {
                let id = ctx.text(item, &index(&field, i))?;
                if id.is_empty() {
                    continue;
                }
                if id == admin {
                    return Err(ctx.invalid(
                        item.line,
                        &index(&field, i),
                        format!("invalid tls proxy: identity '{id}' is already admin"),
                    ));
                }
                proxy_identities.push(id);
            }
        }
        if let Some(mut header) = proxy.take_map(ctx, "header")? {
            let cert = header.text(ctx, "cert")?;
            if !cert.is_empty() {
                proxy_header = cert;
            }
            header.finish(ctx)?;
        }
        proxy.finish(ctx)?;
    }

    Ok(TlsConfig {
        key,
        cert,
        password,
        auth,
        ca,
        proxy_identities,
        proxy_header,
        lines,
    })
}

/// `cache.expiry.{any,unused,offline}`.
fn decode_cache(top: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<CacheConfig, ConfigError> {
    let mut cache = CacheConfig::default();
    let Some(mut section) = top.take_map(ctx, "cache")? else {
        return Ok(cache);
    };
    if let Some(mut expiry) = section.take_map(ctx, "expiry")? {
        // Zero means "default" for `any` and `unused`, as in Go (the
        // fields are indistinguishable from absent there); zero `offline`
        // means no offline expiry.
        if let Some(node) = expiry.take("any") {
            let d = ctx.duration(node, &expiry.child("any"), |d| {
                format!("invalid cache expiry '{d}'")
            })?;
            if !d.is_zero() {
                cache.any = d;
            }
        }
        if let Some(node) = expiry.take("unused") {
            let d = ctx.duration(node, &expiry.child("unused"), |d| {
                format!("invalid cache unused expiry '{d}'")
            })?;
            if !d.is_zero() {
                cache.unused = d;
            }
        }
        if let Some(node) = expiry.take("offline") {
            cache.offline = ctx.duration(node, &expiry.child("offline"), |d| {
                format!("invalid cache offline expiry '{d}'")
            })?;
        }
        expiry.finish(ctx)?;
    }
    section.finish(ctx)?;
    Ok(cache)
}

/// `api.<path>.{skip_auth,timeout}`. Path keys are taken literally.
fn decode_api(
    top: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<BTreeMap<String, ApiConfig>, ConfigError> {
    let mut api = BTreeMap::new();
    let Some(mut section) = top.take_map(ctx, "api")? else {
        return Ok(api);
    };
    for (path, key, node) in section.take_all() {
        let field = join("api", path);
        let mut route = ctx.map(node, &field, key.line)?;
        let skip_auth = match route.take("skip_auth") {
            None => false,
            Some(n) => ctx.boolean(n, &route.child("skip_auth"))?,
        };
        let timeout = match route.take("timeout") {
            None => None,
            Some(n) => {
                let d = ctx.duration(n, &route.child("timeout"), |d| {
                    format!("invalid timeout '{d}' for API '{path}'")
                })?;
                (!d.is_zero()).then_some(d)
            }
        };
        route.finish(ctx)?;
        api.insert(path.to_owned(), ApiConfig { skip_auth, timeout });
    }
    section.finish(ctx)?;
    Ok(api)
}

/// `log.{error,audit}`: level syntax of §8.7; `on`/`off` are accepted with
/// a note that they are the old spelling.
fn decode_log(top: &mut Fields<'_>, ctx: &mut Ctx<'_>) -> Result<LogConfig, ConfigError> {
    let mut log = LogConfig::default();
    let Some(mut section) = top.take_map(ctx, "log")? else {
        return Ok(log);
    };
    for (name, slot) in [("error", &mut log.error), ("audit", &mut log.audit)] {
        let Some((key, node)) = section.take_entry(name) else {
            continue;
        };
        let field = section.child(name);
        let text = ctx.text(node, &field)?;
        *slot = Level::parse(&text).map_err(|e| ctx.invalid(node.line, &field, e.to_string()))?;
        let lower = text.trim().to_ascii_lowercase();
        if lower == "on" || lower == "off" {
            let level = if lower == "on" { "INFO" } else { "no records" };
            ctx.warn(
                key.line,
                &field,
                format!(
                    "'{}' is the old on/off spelling of a log level (still valid, means \
                     {level}); prefer DEBUG, INFO, WARN or ERROR",
                    text.trim()
                ),
            );
        }
    }
    section.finish(ctx)?;
    Ok(log)
}

/// `policy.<name>.{allow,deny,identities}` (and the old `paths`).
fn decode_policies(
    top: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
    admin: &str,
    proxies: &[String],
) -> Result<BTreeMap<String, PolicyConfig>, ConfigError> {
    let mut policies = BTreeMap::new();
    let Some(mut section) = top.take_map(ctx, "policy")? else {
        return Ok(policies);
    };
    // identity -> policy that has it.
    let mut owners: HashMap<String, String> = HashMap::new();
    for (name, key, node) in section.take_all() {
        let field = join("policy", name);
        if let Err(e) = kes_types::PolicyName::new(name) {
            return Err(ctx.invalid(key.line, &field, e.to_string()));
        }
        let mut fields = ctx.map(node, &field, key.line)?;
        let mut policy = PolicyConfig {
            allow: patterns(&mut fields, ctx, "allow")?,
            deny: patterns(&mut fields, ctx, "deny")?,
            identities: Vec::new(),
        };
        if let Some(k) = fields.take_entry("paths").map(|(k, _)| k.line) {
            ctx.warn(
                k,
                &fields.child("paths"),
                "deprecated: 'paths' is the old spelling of 'allow'; treated as allow",
            );
        }
        // `patterns` re-takes `paths` itself; taking it above only fetched the line.
        let old = patterns(&mut fields, ctx, "paths")?;
        for p in old {
            if !policy.allow.contains(&p) {
                policy.allow.push(p);
            }
        }

        if let Some(list) = fields.take("identities") {
            let lfield = fields.child("identities");
            for (i, item) in ctx.list(list, &lfield)?.iter().enumerate() {
                let ifield = index(&lfield, i);
                let id = ctx.text(item, &ifield)?;
                if id == admin {
                    return Err(ctx.invalid(
                        item.line,
                        &ifield,
                        format!("invalid policy '{name}': identity '{id}' is already admin"),
                    ));
                }
                if proxies.contains(&id) {
                    return Err(ctx.invalid(
                        item.line,
                        &ifield,
                        format!("invalid policy '{name}': identity '{id}' is already a TLS proxy"),
                    ));
                }
                if let Err(e) = validate_identity(&id) {
                    return Err(ctx.invalid(item.line, &ifield, e.to_string()));
                }
                if let Some(owner) = owners.get(&id) {
                    if owner == name {
                        continue; // listed twice in the same policy: a set, no conflict
                    }
                    return Err(ctx.invalid(
                        item.line,
                        &ifield,
                        format!(
                            "cannot assign policy '{name}' to '{id}': identity already has a \
                             policy ('{owner}')"
                        ),
                    ));
                }
                owners.insert(id.clone(), name.to_owned());
                policy.identities.push(id);
            }
        }
        fields.finish(ctx)?;
        policies.insert(name.to_owned(), policy);
    }
    section.finish(ctx)?;
    Ok(policies)
}

/// A list of policy path patterns (not env-capable, §9.2). Duplicates
/// collapse; glob characters other than a trailing `*` get a warning.
fn patterns(
    fields: &mut Fields<'_>,
    ctx: &mut Ctx<'_>,
    name: &'static str,
) -> Result<Vec<String>, ConfigError> {
    let Some(node) = fields.take(name) else {
        return Ok(Vec::new());
    };
    let field = fields.child(name);
    let mut out: Vec<String> = Vec::new();
    for (i, item) in ctx.list(node, &field)?.iter().enumerate() {
        let ifield = index(&field, i);
        let pattern = ctx.raw_text(item, &ifield)?;
        let body = pattern.strip_suffix('*').unwrap_or(&pattern);
        if body.contains(['*', '?', '[']) {
            ctx.warn(
                item.line,
                &ifield,
                format!(
                    "pattern '{pattern}' uses glob characters; current KES only treats a \
                     trailing '*' as a wildcard (prefix match) and matches everything else \
                     literally, unlike the old glob semantics"
                ),
            );
        }
        if !out.contains(&pattern) {
            out.push(pattern);
        }
    }
    Ok(out)
}

/// `keys: [{name: ..., rotate: <duration>}, ...]`: validated, unique key
/// names, and the scheduled rotations of the entries with a non-zero
/// `rotate` (docs/key-versions.md §7).
fn decode_keys(
    node: &Node,
    ctx: &mut Ctx<'_>,
) -> Result<(Vec<KeyName>, Vec<KeyRotation>), ConfigError> {
    let mut keys: Vec<KeyName> = Vec::new();
    let mut rotations = Vec::new();
    for (i, item) in ctx.list(node, "keys")?.iter().enumerate() {
        let ifield = index("keys", i);
        let mut entry = ctx.map(item, &ifield, item.line)?;
        entry.expect_only(ctx, &["name", "rotate"])?;
        let Some(name_node) = entry.take("name") else {
            return Err(ctx.invalid(item.line, &ifield, "invalid key config: no key name"));
        };
        let nfield = entry.child("name");
        let name = ctx.text(name_node, &nfield)?;
        let key = KeyName::new(&name).map_err(|e| {
            ctx.invalid(name_node.line, &nfield, format!("invalid key config: {e}"))
        })?;
        if keys.contains(&key) {
            return Err(ctx.invalid(
                name_node.line,
                &nfield,
                format!("invalid key config: key '{name}' is defined multiple times"),
            ));
        }
        if let Some(node) = entry.take("rotate") {
            let every = ctx.duration(node, &entry.child("rotate"), |d| {
                format!("invalid key config: invalid rotation period '{d}'")
            })?;
            if !every.is_zero() {
                rotations.push(KeyRotation {
                    name: key.clone(),
                    every,
                });
            }
        }
        entry.finish(ctx)?;
        keys.push(key);
    }
    Ok((keys, rotations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("0.0.0.0:7373"),
            Ok(Some("0.0.0.0:7373".parse().unwrap()))
        );
        assert_eq!(
            parse_address(":7373"),
            Ok(Some("0.0.0.0:7373".parse().unwrap()))
        );
        assert_eq!(
            parse_address("[::1]:7373"),
            Ok(Some("[::1]:7373".parse().unwrap()))
        );
        assert_eq!(parse_address(""), Ok(None));
        assert_eq!(
            parse_address("localhost:7373"),
            Err("'localhost' is not a valid IP address".to_owned())
        );
        assert!(
            parse_address("127.0.0.1")
                .unwrap_err()
                .contains("missing port")
        );
        assert!(
            parse_address("127.0.0.1:99999")
                .unwrap_err()
                .contains("invalid port")
        );
        assert!(parse_address("::1:7373").unwrap_err().contains("brackets"));
    }
}
