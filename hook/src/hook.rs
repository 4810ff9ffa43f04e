//! `tollgate hook`: one Claude Code hook call, top to bottom.
//!
//! parse → config → store (ingest the transcript delta, record the event) → the guard → usage
//! snapshot → policies → combine → answer (allow while paused) → record the answer. Every
//! failure on the way is reported on stderr and answered per `on_internal_error` (fail-open by
//! default); nothing here panics on bad input, and the event row is committed before any
//! policy runs.

pub(crate) mod budget;
pub mod catalog;
pub mod decide;
pub(crate) mod downgrade;
pub mod event;
pub mod guard;
pub(crate) mod lifecycle;
pub(crate) mod pause;
pub(crate) mod record;
pub mod redact;
pub mod respond;
pub(crate) mod timing;
pub(crate) mod work;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{BuiltinRuntime, Config, FailMode, PolicyConfig};
use crate::paths::Paths;
use crate::policy::engine::{Engine, PolicyError};
use crate::pricing::Pricing;
use crate::store::ingest::{Delta, ReadLimits};
use crate::store::{self, EventRow, Outcome, Store, spool};
use crate::text::one_line;
use budget::Deadline;
use decide::{Decision, Runner, Shared, Verdict, Vote};
use event::{HookInput, MAX_INPUT_BYTES, estimate_tokens};
use respond::Answer;

/// What the hook process prints and why.
#[derive(Debug, Default)]
pub struct Reply {
    /// The JSON answer for stdout, if any.
    pub stdout: Option<String>,
    /// One-line messages for stderr (Claude Code shows them in its debug log).
    pub notes: Vec<String>,
    /// The decision expressed.
    pub decision: Option<Decision>,
    /// The store and policy engines the answer came from, closed when the reply is dropped.
    #[expect(
        dead_code,
        reason = "held for its drop, which `tollgate hook` skips by exiting"
    )]
    held: Held,
}

impl Reply {
    /// A reply with no answer (allow), only a note for stderr.
    pub fn note(note: String) -> Self {
        Self {
            notes: vec![note],
            ..Self::default()
        }
    }

    fn from_answer(answer: Answer, notes: Vec<String>, held: Held) -> Self {
        Self {
            stdout: answer.json.map(|j| j.to_string()),
            notes,
            decision: answer.effective,
            held,
        }
    }
}

/// What one call opened: kept in its [`Reply`], so that `tollgate hook` can exit without
/// closing them one by one (the kernel releases them faster at exit; everything is committed).
#[derive(Default)]
struct Held {
    store: Option<Store>,
    /// One engine per distinct wasm stack limit (usually one).
    engines: Vec<(u64, Engine)>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("store", &self.store.as_ref().map(Store::path))
            .field("engines", &self.engines.len())
            .finish()
    }
}

/// Everything the hook needs from its surroundings (the environment, in production).
#[derive(Debug, Clone)]
pub struct Env {
    /// Where tollgate's files are.
    pub paths: Paths,
    /// `$CLAUDE_PROJECT_DIR`, if set.
    pub project_dir: Option<PathBuf>,
    /// The current time, Unix ms.
    pub now_ms: i64,
    /// `$CLAUDE_CODE_SUBAGENT_MODEL`, which overrides any subagent downgrade (recorded with
    /// each one, to explain an ignored rewrite).
    pub subagent_model: Option<String>,
}

impl Env {
    /// The real environment.
    pub fn from_process() -> anyhow::Result<Self> {
        Ok(Self {
            paths: Paths::discover()?,
            project_dir: std::env::var_os("CLAUDE_PROJECT_DIR").map(PathBuf::from),
            now_ms: chrono::Utc::now().timestamp_millis(),
            subagent_model: std::env::var(downgrade::SUBAGENT_MODEL_ENV).ok(),
        })
    }
}

/// `tollgate hook`: never fails the user's Claude Code. Whatever happens, exit 0 with a valid
/// answer (or none), and say what went wrong on stderr.
pub fn main() -> ExitCode {
    let started = Instant::now();
    if std::io::stdin().is_terminal() {
        eprintln!(
            "tollgate hook: Claude Code runs this on every hook event, with the event as JSON on stdin. \
             Register it with `tollgate install`; try it with `tollgate demo`."
        );
        return ExitCode::FAILURE;
    }
    std::panic::set_hook(Box::new(|info| {
        let info = one_line(&info.to_string()).into_owned();
        if in_policy() {
            eprintln!(
                "tollgate: internal error in a policy ({info}); its on_error applies. Please report this bug."
            );
        } else {
            eprintln!(
                "tollgate: internal error ({info}); answering allow. Please report this bug."
            );
        }
    }));
    let stdin = match crate::files::read_stdin(MAX_INPUT_BYTES, budget::STDIN) {
        Ok(stdin) => stdin,
        Err(e) => {
            eprintln!(
                "tollgate: {}",
                one_line(&format!(
                    "cannot read the hook input on stdin: {e}; answering allow"
                ))
            );
            return ExitCode::SUCCESS;
        }
    };
    let reply = std::panic::catch_unwind(|| match Env::from_process() {
        Ok(env) => run(&stdin, &env, started),
        Err(e) => Reply::note(format!("{e:#}; answering allow")),
    });
    if let Ok(reply) = &reply {
        for note in &reply.notes {
            eprintln!("tollgate: {}", crate::text::printable(&one_line(note)));
        }
        if let Some(json) = &reply.stdout {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{json}").and_then(|()| out.flush());
        }
    }
    // Exit with the reply's store and policy engines still open: all is committed and
    // flushed, and the kernel releases them at exit faster than closing them one by one.
    std::process::exit(0)
}

/// Handles one hook call. `started` is when the process started (for the recorded latency).
pub fn run(stdin: &[u8], env: &Env, started: Instant) -> Reply {
    let mut notes = Vec::new();
    let parsed = HookInput::parse(stdin);
    let project_dir = env.project_dir.clone().or_else(|| {
        parsed
            .as_ref()
            .ok()
            .map(|i| PathBuf::from(i.cwd()))
            .filter(|p| !p.as_os_str().is_empty())
    });
    let config = match Config::load(&env.paths.config_file, project_dir.as_deref()) {
        Ok(config) => {
            notes.extend(config.project.note());
            Some(config)
        }
        Err(e) => {
            notes.push(format!(
                "{e:#}; recording with defaults and answering allow until it is fixed"
            ));
            None
        }
    };
    let fail_mode = config
        .as_ref()
        .map_or(FailMode::Allow, |c| c.on_internal_error);
    let input = match parsed {
        Ok(input) => input,
        Err(e) => {
            notes.push(format!("{e}; answering allow"));
            return Reply {
                notes,
                ..Reply::default()
            };
        }
    };
    let config_ok = config.is_some();
    let config = config.unwrap_or_default();
    let mut held = Held::default();
    match handle(
        &input, &config, config_ok, env, started, &mut notes, &mut held,
    ) {
        Ok(answer) => Reply::from_answer(answer, notes, held),
        Err(e) => {
            let answer = match fail_mode {
                FailMode::Allow => {
                    notes.push(format!("{e}; answering allow (fail-open)"));
                    Answer::default()
                }
                FailMode::Deny => {
                    notes.push(format!(
                        "{e}; answering deny (on_internal_error = \"deny\")"
                    ));
                    respond::fail_closed(Some(&input), &e.to_string())
                }
            };
            Reply::from_answer(answer, notes, held)
        }
    }
}

fn handle(
    input: &HookInput,
    config: &Config,
    run_policies: bool,
    env: &Env,
    started: Instant,
    notes: &mut Vec<String>,
    held: &mut Held,
) -> Result<Answer, store::StoreError> {
    let deadline = Deadline::new(started);
    let mut timings = crate::hook::timing::Timings::new(started);
    timings.step("start+config");
    let pricing = Pricing::with_overrides(&config.prices);
    let calendar = config.calendar().unwrap_or_else(|e| {
        notes.push(format!(
            "{e:#}; using the system time zone and Monday 00:00"
        ));
        crate::time::Calendar::default()
    });
    timings.step("prices+calendar");
    let store_path = config
        .store
        .clone()
        .unwrap_or_else(|| env.paths.store_file());
    let lock_wait = || deadline.within(budget::LOCK, budget::ANSWER);
    let (mut store, notice) = Store::open_or_recover(&store_path, lock_wait())?;
    notes.extend(notice);
    timings.step("open");

    // 1. Read the transcripts' new lines, without the write lock.
    let mut delta = match input.transcript_path() {
        Some(transcript) => {
            let until = Instant::now() + deadline.within(budget::TRANSCRIPTS, budget::ANSWER);
            Delta::read_session(
                store.conn(),
                Path::new(transcript),
                &mut ReadLimits::hook(until),
            )
            .map_err(|e| store.error(e))?
        }
        None => Delta::default(),
    };
    notes.append(&mut delta.report.problems);
    timings.step("read transcripts");

    // 2. Record them, and the event, in one short transaction (first, what earlier calls
    // spooled). Past its wait, the event is kept for the answer's transaction, or the spool.
    let mut row = event_row(input, config, env.now_ms);
    let fact = lifecycle::describe(input, &mut row, config.record.max_subject_bytes);
    let event = record::Event {
        row,
        fact,
        subagent: (matches!(input.event.as_str(), "PostToolUse" | "PostToolUseFailure")
            && input.is_subagent_call())
        .then(|| downgrade::ran(input))
        .flatten(),
        work: work::of(input, config.record.max_subject_bytes),
    };
    store.set_wait(lock_wait())?;
    let recorded = store.write(|tx| {
        let drained = spool::drain(tx, &store_path, record::Record::write_spooled)?;
        let report = delta.store(tx, &pricing, env.now_ms)?;
        let id = event.write(tx, env.now_ms)?;
        Ok((drained, report, id))
    });
    let event_id = match recorded {
        Ok((drained, mut report, id)) => {
            delta.release();
            drained.remove();
            notes.extend(drained.broken);
            notes.append(&mut report.problems);
            Some(id)
        }
        Err(e) if e.is_busy() => None,
        Err(e) => return Err(e),
    };
    timings.step("ingest+record");

    // 3. Decide. Should that fail, an event not yet written is spooled first.
    let decided = decide(
        input,
        config,
        run_policies,
        env,
        &deadline,
        &mut store,
        held,
        notes,
        &mut timings,
        &pricing,
        &calendar,
        started,
    );
    let (answer, answered) = match decided {
        Ok(decided) => decided,
        Err(e) => {
            if event_id.is_none() {
                let unanswered = record::Record {
                    event: Some(event),
                    event_id: None,
                    answer: None,
                };
                notes.extend(spool_note(&store_path, &unanswered, &e));
            }
            return Err(e);
        }
    };

    // 4. Record the answer; if step 2 could not, with the event and the transcripts' lines
    // (which would otherwise be read again by the next call). Past the wait, spool the record
    // (the lines are read again).
    let unrecorded = event_id.is_none();
    let record = record::Record {
        event: unrecorded.then_some(event),
        event_id,
        answer: Some(answered),
    };
    store.set_wait(deadline.within(budget::LOCK, Duration::ZERO))?;
    let recorded = store.write(|tx| {
        let report = if unrecorded {
            Some(delta.store(tx, &pricing, env.now_ms)?)
        } else {
            None
        };
        record.write(tx, env.now_ms)?;
        Ok(report)
    });
    delta.release();
    match recorded {
        Ok(report) => notes.extend(report.into_iter().flat_map(|r| r.problems)),
        Err(e) if e.is_busy() => notes.extend(spool_note(&store_path, &record, &e)),
        Err(e) => return Err(e),
    }
    timings.step("record answer");
    notes.extend(timings.summary());
    held.store = Some(store);
    Ok(answer)
}

/// Spools `record` for the store at `store_path`, which `busy` kept this call from writing;
/// the one line that says so.
fn spool_note(
    store_path: &Path,
    record: &record::Record,
    busy: &store::StoreError,
) -> Option<String> {
    let written = serde_json::to_vec(record)
        .map_err(|e| e.to_string())
        .and_then(|json| spool::write(store_path, &json).map_err(|e| e.to_string()));
    Some(match written {
        Ok(file) => format!(
            "{busy}; this call's record waits in {} for the next call to write it",
            file.display()
        ),
        Err(e) => format!("{busy}; this call is not recorded: {e}"),
    })
}

/// Runs the policies that apply to `input` over one moment of the store, and answers.
#[expect(clippy::too_many_arguments, reason = "the steps of one call, named")]
fn decide(
    input: &HookInput,
    config: &Config,
    run_policies: bool,
    env: &Env,
    deadline: &Deadline,
    store: &mut Store,
    held: &mut Held,
    notes: &mut Vec<String>,
    timings: &mut crate::hook::timing::Timings,
    pricing: &Pricing,
    calendar: &crate::time::Calendar,
    started: Instant,
) -> Result<(Answer, record::Answer), store::StoreError> {
    // The guard first (see `guard`), then the policies.
    let guard_started = Instant::now();
    let guarded = guard::check(input, env, config);
    let guard_us = guard_started.elapsed().as_micros() as i64;
    timings.step("guard");
    let policies: Vec<PolicyConfig> = if run_policies && guarded.is_none() {
        config
            .active_policies()
            .into_iter()
            .filter(|p| p.applies_to(&input.event, input.tool_name()))
            .collect()
    } else {
        Vec::new()
    };
    let mut session_model = String::new();
    let votes = if policies.is_empty() {
        Vec::new()
    } else {
        // Everything the policies read, from one moment of the store (another process may
        // commit between two statements otherwise).
        store.set_wait(deadline.within(budget::LOCK, budget::ANSWER))?;
        let (mut figures, states) = store.read(|conn| {
            let figures =
                decide::Figures::read(conn, config, pricing, calendar, input, env.now_ms, None)?;
            let states: Vec<String> = policies
                .iter()
                .map(|p| store::policy_state(conn, &p.name))
                .collect::<rusqlite::Result<_>>()?;
            Ok((figures, states))
        })?;
        figures.context.pending_tokens = pending_tokens(input);
        let now = crate::time::rfc3339(env.now_ms);
        timings.step("usage");
        let shared = figures.shared(&now, &input.raw);
        let runtime = Runtime {
            builtins: config.builtins,
            cache_dir: &env.paths.cache_dir,
            engines: &mut held.engines,
            deadline,
        };
        let votes = evaluate_all(&policies, &states, &shared, runtime, notes, timings);
        session_model = figures.context.model.unwrap_or_default();
        votes
    };
    let verdict = match &guarded {
        Some(reason) => Verdict {
            decision: Some(Decision::Deny),
            reason: Some(reason.clone()),
            ..Verdict::default()
        },
        None => decide::combine(&votes),
    };
    let mut answer = respond::answer(input, &verdict, respond::Options::default());
    let effective = answer.effective.unwrap_or(Decision::Allow);
    let mut outcome = outcome(&verdict, effective, &votes, started);
    // While paused: allow, and record what it would have been.
    if let Some(until) = pause::until(&env.paths, env.now_ms)
        && effective != Decision::Allow
    {
        answer = respond::Answer {
            json: None,
            effective: Some(Decision::Allow),
        };
        outcome.paused(until);
    }
    let downgrade = outcome.model_requested.as_deref().and_then(|requested| {
        let request = downgrade::Request {
            ts_ms: env.now_ms,
            requested,
            session_model: &session_model,
            env_override: env.subagent_model.as_deref(),
        };
        downgrade::requested(input, &request)
    });
    let mut runs: Vec<_> = votes.iter().map(Vote::run).collect();
    if let Some(reason) = &guarded {
        runs.push(store::PolicyRun {
            policy: "guard".to_owned(),
            decision: Decision::Deny.as_str().to_owned(),
            reason: Some(reason.clone()),
            error: None,
            elapsed_us: guard_us,
        });
    }
    for run in &mut runs {
        redact_in_place(&mut run.reason);
        redact_in_place(&mut run.error);
    }
    let answered = record::Answer {
        runs,
        states: votes
            .iter()
            .filter_map(|v| Some((v.policy.clone(), v.state.clone()?)))
            .collect(),
        outcome,
        downgrade,
    };
    Ok((answer, answered))
}

fn event_row(input: &HookInput, config: &Config, now_ms: i64) -> EventRow {
    let response_bytes = input.response_bytes();
    let max = config.record.max_subject_bytes;
    EventRow {
        ts_ms: now_ms,
        session_id: input.session_id().to_owned(),
        project: input.cwd().to_owned(),
        event: input.event.clone(),
        tool_name: input.tool_name().map(str::to_owned),
        tool_use_id: input.str("tool_use_id").map(str::to_owned),
        agent_id: input.str("agent_id").map(str::to_owned),
        subject: if max == 0 { None } else { input.subject(max) },
        input_bytes: input.input_bytes(),
        response_bytes,
        est_tokens: estimate_tokens(response_bytes),
        // A subagent call's requested model (its PostToolUse records the one it ran on).
        model: input
            .is_subagent_call()
            .then(|| {
                input
                    .tool_input()?
                    .get("model")?
                    .as_str()
                    .map(str::to_owned)
            })
            .flatten(),
        input: Some(input.recorded()),
    }
}

/// What this call is about to add to the context: a tool result that arrived (PostToolUse), or
/// a file a `Read` without a range will load (the sandbox cannot stat files itself).
pub fn pending_tokens(input: &HookInput) -> u64 {
    match (input.event.as_str(), input.tool_name()) {
        ("PostToolUse", _) => estimate_tokens(input.response_bytes()),
        ("PreToolUse", Some("Read")) => {
            let Some(tool_input) = input.tool_input() else {
                return 0;
            };
            let Some(file) = tool_input.get("file_path").and_then(Value::as_str) else {
                return 0;
            };
            let path = Path::new(input.cwd()).join(file);
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            // With a line limit, assume ~100 bytes a line at most.
            let size = match tool_input.get("limit").and_then(Value::as_u64) {
                Some(lines) => size.min(lines.saturating_mul(100)),
                None => size,
            };
            estimate_tokens(size)
        }
        _ => 0,
    }
}

thread_local! {
    /// Set while a policy is evaluated on this thread: a panic then fails that policy only.
    static IN_POLICY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a policy is being evaluated on this thread (for the panic message: a panic there
/// fails that policy, whose `on_error` applies, not the whole call).
pub fn in_policy() -> bool {
    IN_POLICY.get()
}

/// Where the policies of one call run.
struct Runtime<'a> {
    /// How the built-ins run.
    builtins: BuiltinRuntime,
    /// The precompiled modules' cache.
    cache_dir: &'a Path,
    /// The engines made so far, one per wasm stack limit (kept until the process exits).
    engines: &'a mut Vec<(u64, Engine)>,
    /// The call's time budget: a policy it has no time left for is not run.
    deadline: &'a Deadline,
}

fn evaluate_all(
    policies: &[PolicyConfig],
    states: &[String],
    shared: &Shared<'_>,
    runtime: Runtime<'_>,
    notes: &mut Vec<String>,
    timings: &mut crate::hook::timing::Timings,
) -> Vec<Vote> {
    let Runtime {
        builtins,
        cache_dir,
        engines,
        deadline,
    } = runtime;
    // A built-in running natively needs no engine: with only those, wasmtime is never touched.
    let mut failed_to_start = None;
    for stack in policies
        .iter()
        .filter(|p| !p.runs_natively(builtins))
        .map(|p| p.limits.stack_kib)
    {
        if engines.iter().any(|(kib, _)| *kib == stack) {
            continue;
        }
        match Engine::with_stack(Some(cache_dir.to_path_buf()), stack) {
            Ok(engine) => {
                engines.push((stack, engine.compile_until(deadline.before(budget::RECORD))))
            }
            Err(e) => failed_to_start = Some(format!("{e:#}")),
        }
    }
    let host_for = |config: &PolicyConfig| {
        if config.runs_natively(builtins) {
            return Host::Native;
        }
        let stack = config.limits.stack_kib;
        match engines.iter().find(|(kib, _)| *kib == stack) {
            Some((_, engine)) => Host::Sandbox(engine),
            None => Host::Unavailable(failed_to_start.as_deref().unwrap_or_default()),
        }
    };
    timings.step("engine");
    // One after another on this thread: a built-in takes ~0.06 ms natively and ~0.2 ms in the
    // sandbox, less than starting a thread for each would cost (and a policy that may block
    // gets its own guarded thread). A panic in the host while running one policy is that
    // policy's error, not the others'.
    let votes: Vec<Vote> = policies
        .iter()
        .zip(states)
        .map(|(config, state)| {
            let started = Instant::now();
            // A built-in run natively takes a fraction of a millisecond: never skipped.
            let allowance = Duration::from_millis(config.limits.time_ms);
            if !config.runs_natively(builtins) && !deadline.has(allowance, budget::RECORD) {
                return decide::vote(config, Err(PolicyError::NoTime), started);
            }
            IN_POLICY.set(true);
            let vote = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                evaluate_one(host_for(config), config, shared, state, cache_dir)
            }));
            IN_POLICY.set(false);
            vote.unwrap_or_else(|_| {
                let error = PolicyError::Trap("the host failed while running it".into());
                decide::vote(config, Err(error), started)
            })
        })
        .collect();
    timings.step("policies");
    for vote in &votes {
        if let Some(error) = &vote.error {
            notes.push(format!(
                "{error}; answered {} (on_error)",
                vote.decision.as_str()
            ));
        }
    }
    votes
}

/// Where one policy runs.
enum Host<'a> {
    /// A built-in, as native code.
    Native,
    /// In the sandbox of this engine.
    Sandbox(&'a Engine),
    /// In the sandbox, whose engine did not start (why).
    Unavailable(&'a str),
}

/// Loads (from the precompiled cache when warm) and evaluates one policy. A built-in's
/// `sha256` pin is checked against its module, which CI builds from the same source as the
/// native code. A module this call had no time to compile is compiled in the background.
fn evaluate_one(
    host: Host<'_>,
    config: &PolicyConfig,
    shared: &Shared<'_>,
    state: &str,
    cache_dir: &Path,
) -> Vote {
    let started = Instant::now();
    let pin = config.sha256.as_deref();
    let result = match (host, &config.path) {
        (Host::Native, _) => {
            crate::policy::builtin::checked_sha256(&config.name, pin).map(|_| Runner::Native)
        }
        (Host::Sandbox(engine), Some(path)) => engine
            .load_file(path, pin)
            .map(|policy| Runner::Wasm(engine, policy)),
        (Host::Sandbox(engine), None) => crate::policy::builtin::module(&config.name)
            .and_then(|(bytes, sha256)| engine.load(bytes, Some(sha256), pin))
            .map(|policy| Runner::Wasm(engine, policy)),
        (Host::Unavailable(why), _) => Err(PolicyError::Engine(why.to_owned())),
    };
    match result {
        Ok(runner) => decide::evaluate(runner, config, shared, state, started),
        Err(e) => {
            if matches!(e, PolicyError::Compiling(_)) {
                compile_in_background(config, cache_dir);
            }
            decide::vote(config, Err(e), started)
        }
    }
}

/// Starts `tollgate policy check MODULE` detached (no stdio, its own process group), which
/// compiles the policy's module into the cache for the next calls: at most once per module
/// every [`COMPILE_AGAIN_AFTER`], by a marker file in the cache. Best effort: a failure only
/// leaves the next call to try again.
fn compile_in_background(config: &PolicyConfig, cache_dir: &Path) {
    use sha2::{Digest, Sha256};
    use std::process::{Command, Stdio};
    let module = match &config.path {
        Some(path) => path.as_os_str().to_owned(),
        None => config.name.clone().into(),
    };
    let key = Sha256::digest(module.as_encoded_bytes());
    let marker = cache_dir.join(format!("compiling-{}", hex::encode(&key[..16])));
    let recent = std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < COMPILE_AGAIN_AFTER));
    if recent
        || crate::paths::create_private_dir(cache_dir).is_err()
        || std::fs::write(&marker, b"").is_err()
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = Command::new(exe);
    command
        .args(["policy", "check"])
        .arg(&module)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let _ = command.spawn();
}

/// How long a background compile of one module is left to finish before another is started.
const COMPILE_AGAIN_AFTER: Duration = Duration::from_secs(600);

/// What is recorded of the answer. Reasons and errors are redacted like subjects: a policy
/// may quote the command it judged.
fn outcome(verdict: &Verdict, effective: Decision, votes: &[Vote], started: Instant) -> Outcome {
    let errors: Vec<&str> = votes.iter().filter_map(|v| v.error.as_deref()).collect();
    let mut outcome = Outcome {
        decision: effective.as_str().to_owned(),
        reason: verdict
            .reason
            .clone()
            .or_else(|| (!verdict.messages.is_empty()).then(|| verdict.messages.join("; "))),
        model_requested: (effective == Decision::Downgrade)
            .then(|| verdict.model.clone())
            .flatten(),
        latency_us: started.elapsed().as_micros() as i64,
        note: (!errors.is_empty()).then(|| errors.join("; ")),
    };
    redact_in_place(&mut outcome.reason);
    redact_in_place(&mut outcome.note);
    outcome
}

fn redact_in_place(text: &mut Option<String>) {
    if let Some(text) = text {
        *text = redact::redact(text);
    }
}

#[cfg(test)]
mod tests {
    use super::{Host, evaluate_one};
    use crate::config::PolicyConfig;
    use crate::hook::decide::{Decision, Shared, Vote};
    use crate::store::usage::{Context, Usage};

    fn vote(host: Host<'_>, config: &PolicyConfig) -> Vote {
        let (usage, context, event) = (Usage::default(), Context::default(), Default::default());
        let shared = Shared {
            now: "2026-12-01T12:00:00Z",
            event: &event,
            usage: &usage,
            context: &context,
            limits: None,
        };
        evaluate_one(
            host,
            config,
            &shared,
            "{}",
            std::path::Path::new("/nonexistent"),
        )
    }

    /// Natively, a built-in still answers to its `sha256` pin (its module's) and output limit.
    #[test]
    fn a_native_builtin_keeps_its_pin_and_output_limit() {
        let mut budget = PolicyConfig::builtin("budget", true);
        assert_eq!(vote(Host::Native, &budget).error, None);
        budget.sha256 = Some(
            crate::policy::builtin::get("budget")
                .unwrap()
                .1
                .to_uppercase(),
        );
        assert_eq!(vote(Host::Native, &budget).error, None);
        budget.sha256 = Some("00".repeat(32));
        let error = vote(Host::Native, &budget).error.unwrap();
        assert!(error.contains("the config pins 0000"), "{error}");
        budget.sha256 = None;
        budget.limits.output_kib = 0;
        let error = vote(Host::Native, &budget).error.unwrap();
        assert!(error.contains("0 KiB output limit"), "{error}");
    }

    /// A policy file whose engine did not start fails on its own, per its `on_error`.
    #[test]
    fn without_an_engine_a_policy_file_fails_per_its_on_error() {
        let mut file = PolicyConfig::builtin("mine", true);
        file.path = Some("mine.wasm".into());
        file.on_error = Some("ask".into());
        let vote = vote(Host::Unavailable("no memory"), &file);
        assert_eq!(vote.decision, Decision::Ask);
        let error = vote.error.unwrap();
        assert!(error.contains("did not start: no memory"), "{error}");
    }
}
