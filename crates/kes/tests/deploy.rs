//! The packaging and operations files under `deploy/` (deploy/README.md):
//! the systemd unit (parsed; `systemd-analyze verify` and `security` when
//! installed), the Containerfile, the Kubernetes manifests (valid YAML, the
//! files and names they reference exist and agree, the config parses) and
//! the Grafana dashboard (every metric a query names is served by a running
//! server's `/v1/metrics`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kes_keystore::mem::MemKeyStore;
use kes_keystore::testkit::faults::{Fault, FaultyStore};
use kes_keystore::{ErrorKind, KeyStoreError};
use yaml_rust2::{Yaml, YamlLoader};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

// ---------------------------------------------------------------- systemd

/// The `[Section]` → `Key=Value` entries of a unit file, in order.
fn unit_entries(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_owned());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not Key=Value: {line}", n + 1));
        let section = current
            .clone()
            .unwrap_or_else(|| panic!("line {}: entry outside a section", n + 1));
        sections
            .entry(section)
            .or_default()
            .push((key.trim().to_owned(), value.trim().to_owned()));
    }
    sections
}

#[test]
fn systemd_unit_is_hardened() {
    let text = read("systemd/kes.service");
    let units = unit_entries(&text);
    assert_eq!(
        units.keys().collect::<Vec<_>>(),
        ["Install", "Service", "Unit"]
    );
    let service = &units["Service"];
    let get = |key: &str| -> Vec<&str> {
        service
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(
        get("ExecStart"),
        ["/usr/local/bin/kes server --config /etc/kes/config.yaml"]
    );
    assert_eq!(get("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert_eq!(get("User"), ["kes"]);
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", "CAP_IPC_LOCK"),
        ("AmbientCapabilities", "CAP_IPC_LOCK"),
        ("SystemCallArchitectures", "native"),
        ("UMask", "0077"),
    ] {
        assert_eq!(get(key), [value], "{key}");
    }
    assert!(get("SystemCallFilter").contains(&"@system-service"));

    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze not found: the unit is only parsed");
        return;
    };
    assert!(version.status.success());
    // `verify` wants ExecStart's program to exist: point it at this build.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("kes.service");
    std::fs::write(
        &unit,
        text.replace("/usr/local/bin/kes", env!("CARGO_BIN_EXE_kes")),
    )
    .unwrap();
    // --man=no: the man page is installed by `kes man`, not here.
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    // verify exits 0 on unknown keys but names them on stderr.
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Exposure level 2.0 or less ("OK"); 1.6 with systemd 252.
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze security: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---------------------------------------------------------------- container

#[test]
fn containerfile_runs_the_release_binary_as_non_root() {
    let text = read("container/Containerfile");
    let instructions: Vec<(&str, &str)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once(' ').unwrap())
        .collect();
    let get = |name: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(i, _)| *i == name)
            .map(|(_, a)| *a)
            .collect()
    };
    assert_eq!(get("FROM").len(), 1, "one stage, no build inside");
    assert_eq!(get("COPY"), ["--chmod=0555 kes /usr/local/bin/kes"]);
    let user = get("USER");
    assert_eq!(user.len(), 1);
    let uid = user[0].split(':').next().unwrap();
    assert!(
        uid != "root" && uid.parse::<u32>().is_ok_and(|u| u != 0),
        "{user:?}"
    );
    assert_eq!(get("ENTRYPOINT"), [r#"["/usr/local/bin/kes"]"#]);
    let cmd: Vec<String> = serde_json::from_str(get("CMD")[0]).unwrap();
    assert_eq!(cmd, ["server", "--config", "/etc/kes/config.yaml"]);
    // The documented build command sends only the release binary.
    assert!(
        text.contains("docker build -f deploy/container/Containerfile -t kes:0.1.0 target/release")
    );
}

// ---------------------------------------------------------------- kubernetes

fn load_yaml(path: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

fn text_of<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {y:?}"))
}

fn list<'a>(y: &'a Yaml, what: &str) -> &'a [Yaml] {
    y.as_vec()
        .unwrap_or_else(|| panic!("{what}: not a list: {y:?}"))
}

#[test]
fn kubernetes_manifests_are_consistent() {
    let dir = deploy("kubernetes");
    let kustomization = &load_yaml("kubernetes/kustomization.yaml")[0];

    // Every file the kustomization names exists; every manifest is named.
    let resources: BTreeSet<&str> = list(&kustomization["resources"], "resources")
        .iter()
        .map(|r| text_of(r, "resource"))
        .collect();
    let mut generated_secrets = BTreeMap::new();
    for generator in list(&kustomization["secretGenerator"], "secretGenerator") {
        let files: Vec<&str> = list(&generator["files"], "files")
            .iter()
            .map(|f| text_of(f, "file"))
            .collect();
        generated_secrets.insert(text_of(&generator["name"], "generator name"), files);
    }
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        on_disk.insert(entry.unwrap().file_name().into_string().unwrap());
    }
    for file in resources.iter().chain(generated_secrets.values().flatten()) {
        assert!(
            on_disk.contains(*file),
            "kustomization names missing {file}"
        );
    }
    for file in &on_disk {
        let referenced = resources.contains(file.as_str())
            || generated_secrets.values().flatten().any(|f| f == file)
            || file == "kustomization.yaml";
        assert!(referenced, "{file} is not part of the kustomization");
    }

    // Every manifest is valid YAML with apiVersion, kind and a name.
    let mut objects: BTreeMap<(String, String), Yaml> = BTreeMap::new();
    for file in &resources {
        for doc in load_yaml(&format!("kubernetes/{file}")) {
            text_of(&doc["apiVersion"], "apiVersion");
            let kind = text_of(&doc["kind"], "kind").to_owned();
            let name = text_of(&doc["metadata"]["name"], "metadata.name").to_owned();
            assert!(
                objects.insert((kind.clone(), name.clone()), doc).is_none(),
                "{kind}/{name} twice"
            );
        }
    }
    let object = |kind: &str, name: &str| {
        objects
            .get(&(kind.to_owned(), name.to_owned()))
            .unwrap_or_else(|| panic!("no {kind}/{name} among the manifests"))
    };

    let sts = object("StatefulSet", "kes");
    let spec = &sts["spec"];
    assert!(spec["replicas"].as_i64().unwrap() >= 2, "several nodes");
    // The headless Service the StatefulSet names exists and is headless.
    let headless = object("Service", text_of(&spec["serviceName"], "serviceName"));
    assert_eq!(text_of(&headless["spec"]["clusterIP"], "clusterIP"), "None");
    let pod = &spec["template"];
    let labels = &pod["metadata"]["labels"];
    assert_eq!(spec["selector"]["matchLabels"], *labels);
    // Services and the disruption budget select the pods.
    for ((kind, name), doc) in &objects {
        let selector = match kind.as_str() {
            "Service" => &doc["spec"]["selector"],
            "PodDisruptionBudget" => &doc["spec"]["selector"]["matchLabels"],
            _ => continue,
        };
        assert_eq!(selector, labels, "{kind}/{name} selects other pods");
    }
    object(
        "ServiceAccount",
        text_of(&pod["spec"]["serviceAccountName"], "serviceAccountName"),
    );

    // Volumes: the generated config secret, and the TLS secret the README
    // tells the operator to create.
    let readme = read("README.md");
    let mut mounts_of_secret = BTreeMap::new();
    let volumes = list(&pod["spec"]["volumes"], "volumes");
    let containers = list(&pod["spec"]["containers"], "containers");
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    for mount in list(&container["volumeMounts"], "volumeMounts") {
        let name = text_of(&mount["name"], "volumeMount name");
        let volume = volumes
            .iter()
            .find(|v| text_of(&v["name"], "volume name") == name)
            .unwrap_or_else(|| panic!("volumeMount {name} has no volume"));
        let secret = text_of(&volume["secret"]["secretName"], "secretName");
        assert!(
            generated_secrets.contains_key(secret)
                || readme.contains(&format!("create secret tls {secret} ")),
            "secret {secret} is neither generated nor created in deploy/README.md"
        );
        mounts_of_secret.insert(
            secret,
            PathBuf::from(text_of(&mount["mountPath"], "mountPath")),
        );
    }

    // `--config` is the generated config file, where it is mounted.
    let args: Vec<&str> = list(&container["args"], "args")
        .iter()
        .map(|a| text_of(a, "arg"))
        .collect();
    let config_at = args.iter().position(|a| *a == "--config").unwrap() + 1;
    assert_eq!(
        Path::new(args[config_at]),
        mounts_of_secret["kes-config"].join(generated_secrets["kes-config"][0])
    );

    // The config parses, and its TLS files are the keys of the TLS secret.
    // The parser reads Vault's JWT file: the pod's service-account token,
    // which Kubernetes mounts (`automountServiceAccountToken` is not off);
    // here a stand-in.
    const TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    assert!(pod["spec"]["automountServiceAccountToken"].is_badvalue());
    let text = read("kubernetes/config.yaml");
    assert!(text.contains(TOKEN));
    let token = tempfile::NamedTempFile::new().unwrap();
    let text = text.replace(TOKEN, token.path().to_str().unwrap());
    let config = kes_server::config::parse(&text, "config.yaml", &|_: &str| None).unwrap();
    let tls = &mounts_of_secret["kes-tls"];
    assert_eq!(config.tls.key, tls.join("tls.key"));
    assert_eq!(config.tls.cert, tls.join("tls.crt"));

    // The readiness probe needs no client certificate.
    let probe = &container["readinessProbe"]["httpGet"];
    let path = text_of(&probe["path"], "readinessProbe path");
    assert!(config.api[path].skip_auth, "{path} is not skip_auth");
    assert_eq!(text_of(&probe["scheme"], "scheme"), "HTTPS");
}

// ---------------------------------------------------------------- grafana

/// The metric names a PromQL expression selects: identifiers that are not
/// functions, aggregation operators and keywords, label lists, label matchers, strings,
/// ranges or numbers.
fn metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: [&str; 6] = ["and", "or", "unless", "bool", "offset", "inf"];
    const LABEL_LISTS: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let skip_to = |i: usize, close: char| -> usize {
        // Past the matching `close`, stepping over quoted strings.
        let mut j = i + 1;
        while j < chars.len() && chars[j] != close {
            if chars[j] == '"' || chars[j] == '\'' {
                let q = chars[j];
                j += 1;
                while j < chars.len() && chars[j] != q {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
            }
            j += 1;
        }
        j + 1
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_to(i, '}');
        } else if c == '[' {
            i = skip_to(i, ']');
        } else if c == '"' || c == '\'' {
            i = skip_to(i, c);
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next] == ' ' {
                next += 1;
            }
            let rest: String = chars[next..].iter().collect();
            let aggregation = ["by", "without"].iter().any(|k| {
                rest.strip_prefix(k)
                    .is_some_and(|r| r.starts_with([' ', '(']))
            });
            if LABEL_LISTS.contains(&word.as_str()) {
                if chars.get(next) == Some(&'(') {
                    i = skip_to(next, ')');
                }
            } else if chars.get(next) != Some(&'(')
                && !aggregation
                && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
            {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn promql_metric_names() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.99, sum by (le) (rate(a_bucket{job=~"$job", x="}"}[$__rate_interval]))) / b offset 5m + 1e3"#
        ),
        ["a_bucket", "b"]
    );
}

/// Every query of the dashboard (panel targets and template variables).
fn dashboard_queries() -> Vec<String> {
    let dash: serde_json::Value =
        serde_json::from_str(&read("grafana/kes-dashboard.json")).unwrap();
    let mut queries = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for var in dash["templating"]["list"].as_array().unwrap() {
        if var["type"] != "query" {
            continue;
        }
        // label_values(<selector>, <label>): the selector is the query.
        let q = var["query"]["query"].as_str().unwrap();
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.rsplit_once(','))
            .unwrap_or_else(|| panic!("unexpected variable query {q}"));
        queries.push(inner.0.to_owned());
    }
    queries
}

#[tokio::test]
async fn grafana_dashboard_queries_served_metrics() {
    // A dev server in-process, over a store that can be made to fail, so
    // that responses of every class have been counted.
    let dev = kes_server::dev::settings().unwrap();
    let (store, faults) = FaultyStore::wrap(Arc::new(MemKeyStore::new()));
    let mut settings = dev.settings;
    settings.store = store;
    let server = kes_server::state::Server::new(settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(kes_server::accept::serve(
        server,
        listener,
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    let client = kes_client::Client::builder()
        .endpoint(format!("https://{addr}"))
        .api_key(dev.api_key)
        .insecure(true)
        .build()
        .unwrap();
    client.create_key("dash").await.unwrap(); // 2xx
    client.create_key("dash").await.unwrap_err(); // 4xx
    faults.set_all(Fault::Fail(KeyStoreError::new(
        ErrorKind::Unreachable,
        "connection refused",
    )));
    client.create_key("down").await.unwrap_err(); // 5xx
    faults.clear();
    let text = client.metrics().await.unwrap();
    let _ = stop.send(());
    task.await.unwrap();

    let mut served = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            served.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    served.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    assert!(served.contains("kes_http_request_failure"), "{text}");

    let queries = dashboard_queries();
    assert!(queries.len() > 10);
    for query in &queries {
        let names = metric_names(query);
        assert!(!names.is_empty(), "query names no metric: {query}");
        for name in names {
            assert!(
                served.contains(&name),
                "{name} (in {query}) is not served; /v1/metrics serves {served:?}"
            );
        }
    }
}
