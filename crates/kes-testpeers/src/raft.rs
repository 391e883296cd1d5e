//! A three-node OpenBao Raft cluster on loopback (test-peers.md §2), the
//! replicated key store of scale-out tests: `bao server` processes with
//! raft storage (`performance_multiplier = 1`: elections in about 2 s), a
//! static seal so that no node needs unsealing by hand (a restarted node
//! unseals itself), and standby reads disabled (a standby forwards reads to
//! the leader, so none is stale). Initialised over the HTTP API; nodes are
//! killed (SIGKILL) and restarted by PID.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::openbao::{KES_POLICY, ROLE_ID, SECRET_ID, add_approle_role, bao_binary};
use crate::{JsonHttp, PeerProcess, free_port, wait_until};

/// How many nodes a cluster has.
pub const NODES: usize = 3;

/// Generous bound for cluster state changes (not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(90);

/// One node: its ports, config file and process.
struct Node {
    api_port: u16,
    config: PathBuf,
    process: Option<PeerProcess>,
    http: JsonHttp,
}

/// A running three-node cluster; every node is killed when it drops.
pub struct RaftCluster {
    nodes: Vec<Node>,
    /// The root token of the initialisation.
    pub root_token: String,
}

impl RaftCluster {
    /// Starts three nodes with their data under `dir`, initialises the
    /// cluster and waits until it has a leader and three voters.
    pub async fn start(dir: &Path) -> RaftCluster {
        // The static seal's key: any 32 bytes (test data only).
        let seal = dir.join("seal.key");
        std::fs::write(&seal, [0x4b_u8; 32]).unwrap();
        let ports: Vec<(u16, u16)> = (0..NODES).map(|_| (free_port(), free_port())).collect();
        let joins: String = ports
            .iter()
            .map(|(api, _)| {
                format!("  retry_join {{ leader_api_addr = \"http://127.0.0.1:{api}\" }}\n")
            })
            .collect();
        let mut nodes = Vec::new();
        for (i, (api, cluster)) in ports.iter().enumerate() {
            let data = dir.join(format!("data{i}"));
            std::fs::create_dir_all(&data).unwrap();
            let config = dir.join(format!("node{i}.hcl"));
            std::fs::write(
                &config,
                format!(
                    r#"storage "raft" {{
  path = "{data}"
  node_id = "node{i}"
  performance_multiplier = 1
{joins}}}
listener "tcp" {{
  address = "127.0.0.1:{api}"
  cluster_address = "127.0.0.1:{cluster}"
  tls_disable = 1
}}
seal "static" {{
  current_key_id = "test-1"
  current_key = "file://{seal}"
}}
disable_standby_reads = true
api_addr = "http://127.0.0.1:{api}"
cluster_addr = "http://127.0.0.1:{cluster}"
"#,
                    data = data.display(),
                    seal = seal.display(),
                ),
            )
            .unwrap();
            nodes.push(Node {
                api_port: *api,
                config,
                process: None,
                http: JsonHttp::new(&format!("http://127.0.0.1:{api}")),
            });
        }
        let mut cluster = RaftCluster {
            nodes,
            root_token: String::new(),
        };
        for i in 0..NODES {
            cluster.spawn(i);
        }
        // 501: listening, not initialised.
        let first = cluster.nodes[0].http.clone();
        wait_until("OpenBao node 0 to listen", PATIENCE, || async {
            matches!(
                first.try_call("GET", "/v1/sys/health", &[], None).await,
                Ok((501, _))
            )
        })
        .await;
        let init = first
            .call(
                "PUT",
                "/v1/sys/init",
                &[],
                Some(json!({"recovery_shares": 1, "recovery_threshold": 1})),
            )
            .await;
        cluster.root_token = init["root_token"].as_str().unwrap().to_owned();
        cluster.wait_leader().await;
        // Standbys become voters once stable for this long (default 10 s).
        cluster
            .root(
                "POST",
                "/v1/sys/storage/raft/autopilot/configuration",
                Some(json!({"server_stabilization_time": "1s"})),
            )
            .await;
        cluster.wait_voters(NODES).await;
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let mut cmd = Command::new(bao_binary());
        cmd.arg("server")
            .arg(format!("-config={}", node.config.display()))
            .arg("-log-level=warn");
        node.process = Some(PeerProcess::spawn(
            &format!("openbao-raft-{}", node.api_port),
            &mut cmd,
        ));
    }

    /// `http://127.0.0.1:<api port>` of node `i`.
    pub fn endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].api_port)
    }

    /// The node that answers `/v1/sys/health` with 200 (active), if any.
    pub async fn leader(&self) -> Option<usize> {
        for (i, node) in self.nodes.iter().enumerate() {
            if node.process.is_some()
                && let Ok((200, _)) = node.http.try_call("GET", "/v1/sys/health", &[], None).await
            {
                return Some(i);
            }
        }
        None
    }

    /// Waits until some node is active and returns it.
    pub async fn wait_leader(&self) -> usize {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(i) = self.leader().await {
                return i;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no OpenBao leader after {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the leader's autopilot counts `n` healthy voters.
    pub async fn wait_voters(&self, n: usize) {
        wait_until(&format!("{n} OpenBao voters"), PATIENCE, || async {
            let Some(leader) = self.leader().await else {
                return false;
            };
            let token = [("X-Vault-Token", self.root_token.as_str())];
            match self.nodes[leader]
                .http
                .try_call("GET", "/v1/sys/storage/raft/autopilot/state", &token, None)
                .await
            {
                Ok((200, state)) => {
                    let state = state.get("data").unwrap_or(&state);
                    state["healthy"] == true
                        && state["voters"].as_array().is_some_and(|v| v.len() >= n)
                }
                _ => false,
            }
        })
        .await;
    }

    /// Kills node `i` (SIGKILL by PID).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i].process.take() {
            p.kill();
        }
    }

    /// Starts node `i` again on its data and waits until it serves (as
    /// the leader or a standby) and knows the leader (before that it
    /// answers logins with 500 "active cluster node not found").
    pub async fn restart(&mut self, i: usize) {
        self.spawn(i);
        let http = self.nodes[i].http.clone();
        wait_until("a restarted OpenBao node to join", PATIENCE, || async {
            matches!(
                http.try_call("GET", "/v1/sys/health", &[], None).await,
                Ok((200 | 429, _))
            ) && match http.try_call("GET", "/v1/sys/leader", &[], None).await {
                Ok((200, v)) => v["leader_address"].as_str().is_some_and(|a| !a.is_empty()),
                _ => false,
            }
        })
        .await;
    }

    /// A call with the root token to the leader; panics unless 2xx.
    pub async fn root(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let leader = self.wait_leader().await;
        self.nodes[leader]
            .http
            .call(method, path, &[("X-Vault-Token", &self.root_token)], body)
            .await
    }

    /// What KES needs: K/V v1 at `kv1/`, and AppRole role `kes` with
    /// [`ROLE_ID`]/[`SECRET_ID`] and policy [`KES_POLICY`].
    pub async fn seed(&self) {
        self.root(
            "POST",
            "/v1/sys/mounts/kv1",
            Some(json!({"type": "kv", "options": {"version": "1"}})),
        )
        .await;
        self.root(
            "POST",
            "/v1/sys/auth/approle",
            Some(json!({"type": "approle"})),
        )
        .await;
        self.root(
            "PUT",
            "/v1/sys/policies/acl/kes",
            Some(json!({ "policy": KES_POLICY })),
        )
        .await;
        let leader = self.wait_leader().await;
        add_approle_role(
            &self.nodes[leader].http,
            &[("X-Vault-Token", &self.root_token)],
            "kes",
            (ROLE_ID, SECRET_ID),
            ("1h", "24h"),
        )
        .await;
    }
}
