//! Team sync against a real PostgreSQL server (Debian's postgresql-15, started on a random
//! local port in a temporary directory): several machines syncing at once, a crash between
//! push and acknowledge, the server down.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestEnv, stderr};
use serde_json::Value;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Output tokens of the 12 distinct responses in the fixture transcripts.
const FIXTURE_OUTPUT: i64 =
    1696 + 1834 + 751 + 173 + 498 + 1197 + 678 + 1609 + 1657 + 321 + 761 + 1327;

/// "Now" for syncs: in the fixture transcripts' week, so the pulled windows hold them.
const FIXTURE_NOW: &str = "2026-11-12T12:00:00Z";

/// A throw-away PostgreSQL cluster, stopped on drop.
struct PgServer {
    _dir: tempfile::TempDir,
    data: PathBuf,
    port: u16,
}

impl PgServer {
    fn start() -> Self {
        assert!(
            Path::new(PG_BIN).join("initdb").exists(),
            "PostgreSQL 15 is not installed: run scripts/test (it installs the postgresql package)"
        );
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if is_root() {
            // initdb refuses to run as root: the cluster belongs to the `postgres` user.
            chmod(dir.path(), 0o755);
            assert!(
                Command::new("chown")
                    .args(["postgres:", data.to_str().unwrap()])
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let port = free_port();
        let server = Self {
            _dir: dir,
            data,
            port,
        };
        let data = server.data.to_str().unwrap();
        server.pg(
            "initdb",
            &["-D", data, "-U", "tollgate", "--auth=trust", "-E", "UTF8"],
        );
        server.start_again();
        server
    }

    fn url(&self) -> String {
        format!("postgres://tollgate@127.0.0.1:{}/postgres", self.port)
    }

    fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.display()
        );
        let log = self.data.join("log");
        self.pg(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
    }

    fn stop(&self) {
        self.pg(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Runs a PostgreSQL program (as `postgres` when we are root).
    fn pg(&self, program: &str, args: &[&str]) {
        let path = Path::new(PG_BIN).join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        let output = command.args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls).unwrap()
    }

    fn value(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.stop());
    }
}

fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() == 0 }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One simulated machine: its own store, transcripts with its own message ids, and person.
fn machine(person: &str, url: &str) -> TestEnv {
    let env = TestEnv::new();
    rewrite_ids(&env.dir.path().join("projects"), person);
    env.config(&format!(
        "default_policies = false\n[team]\ndatabase = \"{url}\"\nperson = \"{person}\"\nteam = \"core\"\n"
    ));
    env
}

/// Makes the fixture's API responses this machine's own (distinct message and request ids).
fn rewrite_ids(dir: &Path, tag: &str) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rewrite_ids(&path, tag);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text
                .replace("\"msg_", &format!("\"msg_{tag}_"))
                .replace("\"req_", &format!("\"req_{tag}_"));
            std::fs::write(&path, text).unwrap();
        }
    }
}

/// Records a session with usage, three tool calls and a prompt.
fn work(env: &TestEnv) {
    env.hook(&env.input("session-start"));
    for _ in 0..3 {
        env.hook(&env.input("pre-tool-use-bash"));
    }
    env.hook(&env.input("user-prompt-submit"));
}

fn sync(env: &TestEnv) -> std::process::Output {
    sync_at(env, FIXTURE_NOW)
}

/// `tollgate sync --json` with "now" pinned to `now` (RFC 3339 or Unix ms).
fn sync_at(env: &TestEnv, now: &str) -> std::process::Output {
    let mut command = env.command();
    command
        .args(["sync", "--json"])
        .env("TOLLGATE_NOW", now)
        .env_remove("TOLLGATE_TEAM_DATABASE");
    command.output().unwrap()
}

fn sync_json(env: &TestEnv) -> Value {
    let output = sync(env);
    assert!(output.status.success(), "sync failed: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The `name` of each row of a report table.
fn names(rows: &Value) -> Vec<&str> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect()
}

/// Median wall time of `n` hook calls.
fn hook_time(env: &TestEnv, n: usize) -> Duration {
    let input = env.input("pre-tool-use-bash");
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            assert!(env.hook(&input).status.success());
            start.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

#[test]
fn machines_sync_concurrently_exactly_once_and_survive_a_down_server() {
    let server = PgServer::start();
    let url = server.url();
    let people = ["alice", "bob", "carol"];
    let machines: Vec<TestEnv> = people.iter().map(|p| machine(p, &url)).collect();
    for env in &machines {
        work(env);
    }

    // Three machines sync at once (each also migrates: the first creates the schema).
    let reports: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = machines
            .iter()
            .map(|env| scope.spawn(|| sync_json(env)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for report in &reports {
        assert_eq!(report["pushed"]["usage"]["new"], 12, "{report}");
        assert_eq!(report["pushed"]["events"]["new"], 5, "{report}");
    }
    assert_eq!(server.value("SELECT count(*) FROM tollgate_usage"), 36);
    assert_eq!(
        server.value("SELECT sum(output_tokens)::int8 FROM tollgate_usage"),
        3 * FIXTURE_OUTPUT
    );
    assert_eq!(
        server.value(
            "SELECT count(*) FROM tollgate_events WHERE event = 'PreToolUse' AND tool_name = 'Bash'"
        ),
        9
    );
    assert_eq!(
        server.value("SELECT count(DISTINCT person) FROM tollgate_events"),
        3
    );
    assert_eq!(
        server.value("SELECT max(version)::int8 FROM tollgate_schema"),
        2
    );

    // What policies will see: the whole team, each person, and this person.
    let last = sync_json(&machines[0]);
    let team = &last["pulled"];
    assert_eq!(team["team"]["week"]["messages"], 36, "{team}");
    assert_eq!(team["team"]["week"]["output_tokens"], 3 * FIXTURE_OUTPUT);
    assert_eq!(team["person"]["week"]["output_tokens"], FIXTURE_OUTPUT);
    assert_eq!(team["by_person"].as_object().unwrap().len(), 3);
    assert_eq!(team["person_id"], "alice");
    assert_eq!(team["stale"], false);
    let local_cost: f64 = machines[0]
        .db()
        .query_row("SELECT sum(cost_usd) FROM usage", [], |r| r.get(0))
        .unwrap();
    let pulled_cost = team["person"]["week"]["cost_usd"].as_f64().unwrap();
    assert!(
        (pulled_cost - local_cost).abs() < 1e-9,
        "{pulled_cost} vs {local_cost}"
    );

    // A crash after the remote commit but before the local mark advanced: the next sync
    // pushes the same rows again, and none is counted twice.
    machines[1]
        .db()
        .execute(
            "UPDATE team_sync SET value = '0' WHERE key LIKE 'mark:%'",
            [],
        )
        .unwrap();
    let again = sync_json(&machines[1]);
    assert_eq!(again["pushed"]["usage"]["sent"], 12, "{again}");
    assert_eq!(again["pushed"]["usage"]["new"], 0, "{again}");
    assert_eq!(again["pushed"]["events"]["new"], 0, "{again}");
    assert_eq!(server.value("SELECT count(*) FROM tollgate_usage"), 36);
    assert_eq!(server.value("SELECT count(*) FROM tollgate_events"), 15);

    // A response seen again with larger figures updates its local row: the sync within the
    // hour after it sends it again, and the database takes the new figures (once).
    let (id, ts_ms): (i64, i64) = machines[1]
        .db()
        .query_row(
            "SELECT id, ts_ms FROM usage ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    machines[1]
        .db()
        .execute(
            "UPDATE usage SET output_tokens = output_tokens + 100 WHERE id = ?1",
            [id],
        )
        .unwrap();
    let soon = (ts_ms + 10 * 60 * 1000).to_string();
    for expected_new in [1, 0] {
        let output = sync_at(&machines[1], &soon);
        assert!(output.status.success(), "{}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["pushed"]["usage"]["new"], expected_new, "{report}");
    }
    assert_eq!(
        server.value("SELECT sum(output_tokens)::int8 FROM tollgate_usage"),
        3 * FIXTURE_OUTPUT + 100
    );

    // The hook never touches the network: as fast with the server down as up.
    let up = hook_time(&machines[2], 15);
    server.stop();
    let down = hook_time(&machines[2], 15);
    eprintln!(
        "hook median over 15 calls (debug build): server up {:.1} ms, server down {:.1} ms",
        up.as_secs_f64() * 1000.0,
        down.as_secs_f64() * 1000.0
    );
    assert!(
        down < up * 2 + Duration::from_millis(20),
        "up {up:?}, down {down:?}"
    );
    let failed = sync(&machines[2]);
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("cannot connect to the team database"),
        "{}",
        stderr(&failed)
    );

    // Back up: the sync catches up with the 30 calls made meanwhile.
    server.start_again();
    let caught_up = sync_json(&machines[2]);
    assert_eq!(caught_up["pushed"]["events"]["new"], 30, "{caught_up}");
    assert_eq!(server.value("SELECT count(*) FROM tollgate_events"), 45);
    assert_eq!(server.value("SELECT count(*) FROM tollgate_usage"), 36);

    // The report: per person and per project, sorted by name.
    let report = machines[0].pipe(&["team", "report", "--json", "--days", "36500"], b"");
    assert!(report.status.success(), "{}", stderr(&report));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(names(&report["by_person"]), people);
    let carol = &report["by_person"][2];
    assert_eq!(carol["tool_calls"], 3 + 30, "{carol}");
    assert_eq!(carol["sessions"], 1);
    assert_eq!(
        report["by_person"][1]["total_tokens"],
        report["by_person"][0]["total_tokens"].as_i64().unwrap() + 100
    );
    // Usage carries the transcript's cwd (/home/dev/proj0), hook calls the test's project
    // directory: the directories' names only, never their paths.
    assert_eq!(names(&report["by_project"]), ["proj0", "project"]);
    let table = machines[0].pipe(&["team", "report", "--days", "36500"], b"");
    insta::assert_snapshot!("team_report", String::from_utf8(table.stdout).unwrap());
}

#[test]
fn the_budget_policy_holds_the_cached_team_week() {
    let server = PgServer::start();
    let env = machine("dana", &server.url());
    work(&env);
    let before = env.hook(&env.input("pre-tool-use-bash"));
    assert_eq!(
        common::stdout_json(&before),
        None,
        "no team figures yet: allowed"
    );
    sync_json(&env);
    let cached: String = env
        .db()
        .query_row("SELECT doc FROM team_cache", [], |r| r.get(0))
        .unwrap();
    let cached: Value = serde_json::from_str(&cached).unwrap();
    assert_eq!(cached["person"]["week"]["output_tokens"], FIXTURE_OUTPUT);
    assert_eq!(cached["name"], "core");

    // The sync pinned "now" in the fixture's week: the cache is days old by the real clock,
    // so the policy's staleness limit decides.
    let config = |staleness: u64| {
        format!(
            "[team]\ndatabase = \"{}\"\nperson = \"dana\"\nteam = \"core\"\n\
             [[policy]]\nname = \"budget\"\nenforce = true\n\
             [policy.config]\nteam_week_usd = 0.5\nteam_max_staleness_minutes = {staleness}\n\
             team_stale = \"warn\"\n",
            server.url()
        )
    };
    env.config(&config(10_000_000));
    let over = env.hook(&env.input("pre-tool-use-bash"));
    let answer = common::stdout_json(&over).unwrap_or_else(|| {
        let log = env.pipe(&["log", "--json", "-n", "3"], b"");
        panic!(
            "no answer: {} {}",
            stderr(&over),
            String::from_utf8_lossy(&log.stdout)
        )
    });
    assert_eq!(
        answer["hookSpecificOutput"]["permissionDecision"], "ask",
        "{answer}"
    );
    assert!(answer.to_string().contains("team week cost"), "{answer}");

    env.config(&config(60));
    let stale = env.hook(&env.input("pre-tool-use-bash"));
    let answer = common::stdout_json(&stale).expect("a warning");
    assert!(
        answer.to_string().contains("team limits are not checked"),
        "{answer}"
    );
    assert!(!answer.to_string().contains("\"ask\""), "{answer}");
}

/// A one-thread OTLP/HTTP collector: answers 200 to each POST and keeps the bodies.
/// The report shows what the spend bought beside the cost: the person whose hook watched an
/// edit and a commit has their lines, files, commits and cost per outcome; the one whose tool
/// calls' outcomes were never watched has them unknown, not zero. Only keys of the file and
/// the commit leave the machine.
#[test]
fn the_team_report_shows_outcomes_beside_the_cost() {
    let server = PgServer::start();
    let (alice, bob) = (
        machine("alice", &server.url()),
        machine("bob", &server.url()),
    );
    work(&alice);
    work(&bob);
    for input in alice.edit_and_commit() {
        assert!(alice.hook(&input).status.success());
    }
    for env in [&alice, &bob, &alice] {
        sync_json(env);
    }
    assert_eq!(server.value("SELECT count(*) FROM tollgate_work"), 2);
    assert_eq!(
        server.value(
            "SELECT count(*) FROM tollgate_work WHERE item LIKE '%/%' OR item LIKE '%5e6f%'"
        ),
        0
    );
    let report = alice.pipe(&["team", "report", "--json", "--days", "36500"], b"");
    assert!(report.status.success(), "{}", stderr(&report));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(names(&report["by_person"]), ["alice", "bob"]);
    let (alice, bob) = (&report["by_person"][0], &report["by_person"][1]);
    let outcomes = &alice["outcomes"];
    assert_eq!(outcomes["lines_added"], 2, "{alice}");
    assert_eq!(outcomes["lines_removed"], 1);
    assert_eq!(outcomes["files_touched"], 1);
    assert_eq!(outcomes["commits"], 1);
    assert_eq!(outcomes["pull_requests"], 0);
    let cost = alice["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0);
    assert!((outcomes["cost_per_commit"].as_f64().unwrap() - cost).abs() < 1e-9);
    assert!((outcomes["cost_per_100_lines"].as_f64().unwrap() - cost / 0.03).abs() < 1e-6);
    for figure in ["lines_added", "files_touched", "commits", "cost_per_commit"] {
        assert!(bob["outcomes"][figure].is_null(), "{bob}");
    }
}

fn fake_collector() -> (String, std::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .unwrap();
            if tx.send((request_line, body)).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

#[test]
fn sync_exports_the_pushed_rows_as_otlp_metrics() {
    let server = PgServer::start();
    let (collector, received) = fake_collector();
    let env = machine("erin", &server.url());
    env.config(&format!(
        "default_policies = false\n[team]\ndatabase = \"{}\"\nperson = \"erin\"\notlp_endpoint = \"{collector}\"\n",
        server.url()
    ));
    work(&env);
    let report = sync_json(&env);
    assert_eq!(report["otlp"]["error"], Value::Null, "{report}");
    // 12 responses of 2 models: 4 token kinds and a cost per model; 5 answered hook calls.
    assert_eq!(report["otlp"]["values"], 2 * 5 + 5, "{report}");
    let (request, body) = received
        .recv_timeout(Duration::from_secs(5))
        .expect("a request");
    assert!(request.starts_with("POST /v1/metrics "), "{request}");
    let body = String::from_utf8_lossy(&body);
    for name in [
        "tollgate.tokens",
        "tollgate.cost",
        "tollgate.decisions",
        "tollgate.hook.latency",
        "claude-opus-4-5-20251101",
        "erin",
    ] {
        assert!(body.contains(name), "{name} not in the export");
    }

    // A collector that is down does not fail the sync: it says so on stderr.
    let down = format!("http://127.0.0.1:{}", free_port());
    env.config(&format!(
        "default_policies = false\n[team]\ndatabase = \"{}\"\nperson = \"erin\"\notlp_endpoint = \"{down}\"\n",
        server.url()
    ));
    work(&env);
    let output = sync(&env);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("OTLP export to"),
        "{}",
        stderr(&output)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["pushed"]["events"]["new"], 5, "{report}");
}
