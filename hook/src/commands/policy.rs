//! `tollgate policy`: list, check, test and start policies.

pub mod replay;
pub mod scaffold;
pub mod suite;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::config::{BuiltinRuntime, Config, Limits, PolicyConfig};
use crate::hook::decide::{self, Runner, Shared};
use crate::hook::event::HookInput;
use crate::policy::config_check::{self, Checker, Code, ConfigCheck};
use crate::policy::engine::{Engine, Policy, PolicyError};
use crate::store::usage::{Context, Usage};
use crate::text::printable;

/// `tollgate policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// The configured policies, with their hash, whether they load and whether their config
    /// is valid (exit 1 if any fails).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a module against the ABI (exports, imports, version) and print its description.
    Check {
        /// A `.wasm` or `.wat` file, or a built-in's name.
        module: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a policy on the bundled sample inputs (a table of decisions), or on one hook input
    /// with `--event` (the decision and Claude Code's answer).
    Test(TestArgs),
    /// Start a policy project in a language: the example policy, its SDK, a build script and
    /// a README.
    New(crate::commands::policy::scaffold::NewArgs),
    /// What a policy would have answered on the recorded events: each replayed with the usage
    /// figures as they were at its moment, and what its downgrades would have saved. Try a
    /// policy or new limits before enabling them; the store is only read.
    ///
    /// The policy is replayed as enforced, its state starting empty. The team's totals and
    /// the plan's windows are not kept over time, so the replay has none.
    Replay(crate::commands::policy::replay::ReplayArgs),
}

/// Options of `tollgate policy test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// A `.wasm` or `.wat` file, or a built-in's name.
    pub module: String,
    /// One hook input (a JSON file as Claude Code sends it). Without it, the policy runs on
    /// every input of the bundled conformance suite (sdk/conformance).
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// Usage figures (a JSON file shaped like the input document's `usage`; default: zeros).
    #[arg(long, value_name = "FILE", requires = "event")]
    pub usage: Option<PathBuf>,
    /// Context figures (`{"tokens": …, "limit": …, "model": …, "pending_tokens": …}`).
    #[arg(long, value_name = "FILE", requires = "event")]
    pub context: Option<PathBuf>,
    /// The policy's `config` table, as a TOML file (for the bundled inputs: instead of the
    /// example policy's config).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check the answers on the bundled inputs against the example policy's (what every
    /// example in examples/policies must return); exit 1 on a difference.
    #[arg(long, conflicts_with_all = ["event", "config"])]
    pub conformance: bool,
    /// Time limit per evaluation in milliseconds, as fuel (the config's `limits.time_ms`).
    #[arg(long, value_name = "MS", default_value_t = Limits::default().time_ms)]
    pub time_ms: u64,
    /// Its stored `state`, as JSON text.
    #[arg(long, default_value = "{}", requires = "event")]
    pub state: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `tollgate policy` subcommand.
pub fn run(command: &PolicyCommand) -> Result<ExitCode> {
    if let PolicyCommand::Replay(args) = command {
        return crate::commands::policy::replay::run(args);
    }
    let paths = crate::paths::Paths::discover()?;
    let engine = Engine::new(Some(paths.cache_dir.clone()))?;
    match command {
        PolicyCommand::List { json } => list(&engine, &paths.config_file, *json),
        PolicyCommand::Check { module, json } => check(&engine, module, *json),
        PolicyCommand::Test(args) => match &args.event {
            Some(event) => test(&engine, args, event),
            None => crate::commands::policy::suite::run(&engine, args),
        },
        PolicyCommand::New(args) => crate::commands::policy::scaffold::run(args),
        PolicyCommand::Replay(args) => crate::commands::policy::replay::run(args),
    }
}

/// The built-in (its module and sha256) a module argument names, unless a file of that name
/// exists.
pub fn builtin(module: &str) -> Option<(&'static [u8], &'static str)> {
    crate::policy::builtin::get(module).filter(|_| !Path::new(module).exists())
}

/// Loads a module named by a path or a built-in name.
pub fn load(engine: &Engine, module: &str, pin: Option<&str>) -> Result<Policy, PolicyError> {
    match builtin(module) {
        Some((bytes, sha)) => engine.load(bytes, Some(sha), pin),
        None => engine.load_file(Path::new(module), pin),
    }
}

/// Loads a configured policy: its `path`, or the built-in of its name, checking its pin.
pub fn load_configured(engine: &Engine, policy: &PolicyConfig) -> Result<Policy, PolicyError> {
    match &policy.path {
        Some(path) => engine.load_file(path, policy.sha256.as_deref()),
        None => load(engine, &policy.name, policy.sha256.as_deref()),
    }
}

/// A configured policy as `policy list` and `doctor` see it: loaded, and its config checked.
pub struct Inspected {
    /// The module's sha256 (a native built-in's: its embedded module's).
    pub sha256: String,
    /// `reactor` or `command`; `None` for a built-in run as native code.
    pub style: Option<&'static str>,
    /// Its config, checked.
    pub config: ConfigCheck,
}

/// Loads a configured policy (a native built-in: checks its pin against its module) and
/// checks its config. `engine` is asked for only when the policy runs in the sandbox.
pub fn inspect<'e>(
    engine: impl FnOnce() -> Result<&'e Engine, PolicyError>,
    policy: &PolicyConfig,
    builtins: BuiltinRuntime,
) -> Result<Inspected, PolicyError> {
    if policy.runs_natively(builtins) {
        let sha256 =
            crate::policy::builtin::checked_sha256(&policy.name, policy.sha256.as_deref())?;
        return Ok(Inspected {
            sha256: sha256.to_owned(),
            style: None,
            config: config_check::check(Code::Native, &policy.name, &policy.config)?,
        });
    }
    let engine = engine()?;
    let loaded = load_configured(engine, policy)?;
    let config = config_check::check(Code::Module(engine, &loaded), &policy.name, &policy.config)?;
    Ok(Inspected {
        sha256: loaded.sha256.clone(),
        style: Some(loaded.style()),
        config,
    })
}

/// What checked a config, for `--json`.
fn checker_name(checker: Checker) -> &'static str {
    match checker {
        Checker::Policy => "policy",
        Checker::Schema => "schema",
        Checker::None => "none",
    }
}

fn list(engine: &Engine, config_file: &Path, as_json: bool) -> Result<ExitCode> {
    let project = std::env::current_dir().ok();
    let config = Config::load(config_file, project.as_deref())?;
    let mut rows = Vec::new();
    let mut sources = Vec::new();
    let mut failed = false;
    for policy in config.active_policies() {
        let inspected = inspect(|| Ok(engine), &policy, config.builtins);
        let status = match &inspected {
            Ok(inspected) if inspected.config.errors.is_empty() => "ok".to_owned(),
            Ok(inspected) => inspected.config.errors.join("; "),
            Err(e) => crate::text::one_line(&e.to_string()).into_owned(),
        };
        failed |= status != "ok";
        sources.push(policy.source(config.builtins));
        let inspected = inspected.ok();
        rows.push(json!({
            "name": policy.name,
            "source": policy.path.as_ref().map_or_else(|| "built-in".to_owned(), |p| p.display().to_string()),
            "native": policy.runs_natively(config.builtins),
            "enforce": policy.enforce,
            "events": policy.events(),
            "tools": policy.tools(),
            "sha256": inspected.as_ref().map(|i| &i.sha256),
            "style": inspected.as_ref().and_then(|i| i.style),
            "config_checked_by": inspected.as_ref().map(|i| checker_name(i.config.checker)),
            "config_errors": inspected.as_ref().map(|i| &i.config.errors),
            "status": status,
        }));
    }
    if as_json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        if !config_file.exists() {
            println!(
                "No config at {}: the built-ins run in warn-only mode.",
                config_file.display()
            );
        }
        let mut table = crate::term::table::new(["policy", "source", "mode", "sha256", "status"]);
        for (row, source) in rows.iter().zip(&sources) {
            let sha = row["sha256"]
                .as_str()
                .map(|s| format!("{}…", &s[..12]))
                .unwrap_or_default();
            let mode = if row["enforce"] == true {
                "enforce"
            } else {
                "warn-only"
            };
            table.add_row([
                row["name"].as_str().unwrap_or_default(),
                source,
                mode,
                &sha,
                row["status"].as_str().unwrap_or_default(),
            ]);
        }
        println!("{table}");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn check(engine: &Engine, module: &str, as_json: bool) -> Result<ExitCode> {
    let started = Instant::now();
    let policy = match load(engine, module, None) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!(
                "tollgate: {module}: {}",
                crate::text::one_line(&e.to_string())
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let description = match engine.describe(&policy) {
        Ok(d) => d.map(|d| config_check::part_named(d, module)),
        Err(e) => {
            eprintln!(
                "tollgate: {module}: tollgate_describe {}",
                printable(&e.to_string())
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    // What checks a config: the module itself, its declared keys, or nothing.
    let checker =
        match config_check::check(Code::Module(engine, &policy), module, &toml::Table::new()) {
            Ok(checked) => checker_name(checked.checker),
            Err(e) => {
                eprintln!("tollgate: {module}: tollgate_check_config {e}");
                return Ok(ExitCode::FAILURE);
            }
        };
    let report = json!({
        "module": module,
        "ok": true,
        "config_checked_by": checker,
        "style": policy.style(),
        "sha256": policy.sha256,
        "imports": policy.imports(),
        "abi": crate::policy::engine::ABI_VERSION,
        "load_ms": load_ms,
        "from_cache": policy.cached,
        "describe": description,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{module}: ok ({} style, ABI {})",
            policy.style(),
            crate::policy::engine::ABI_VERSION
        );
        println!("  sha256   {}", policy.sha256);
        let imports = policy.imports();
        println!(
            "  imports  {}",
            if imports.is_empty() {
                "none".to_owned()
            } else {
                imports.join(", ")
            }
        );
        println!(
            "  loaded   {load_ms:.2} ms ({})",
            if policy.cached {
                "precompiled cache"
            } else {
                "compiled now"
            }
        );
        println!(
            "  config   {}",
            match checker {
                "policy" => "checked by the module (tollgate_check_config)",
                "schema" => "keys and types checked against its config_schema",
                _ =>
                    "not checked before it runs (no tollgate_check_config, no closed config_schema)",
            }
        );
        if let Some(d) = &report["describe"].as_object() {
            for key in ["name", "version", "description", "events"] {
                if let Some(v) = d.get(key) {
                    let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                    println!("  {key:<8} {}", printable(&text));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// The `--config` TOML file as a table.
pub fn read_config(path: &Path) -> Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a TOML table", path.display()))
}

fn test(engine: &Engine, args: &TestArgs, event: &Path) -> Result<ExitCode> {
    let event_bytes =
        std::fs::read(event).with_context(|| format!("cannot read {}", event.display()))?;
    let input = HookInput::parse(&event_bytes).with_context(|| event.display().to_string())?;
    let usage: Usage = match &args.usage {
        Some(path) => serde_json::from_value(read_json(path)?)
            .context("--usage does not fit the usage shape")?,
        None => Usage::default(),
    };
    let context: Context = match &args.context {
        Some(path) => serde_json::from_value(read_json(path)?)
            .context("--context does not fit the context shape")?,
        None => Context::default(),
    };
    let mut config = PolicyConfig::builtin(&args.module, true);
    config.limits = Limits {
        time_ms: args.time_ms,
        ..Limits::default()
    };
    if let Some(path) = &args.config {
        config.config = read_config(path)?;
    }
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let shared = Shared {
        now: &now,
        event: &input.raw,
        usage: &usage,
        context: &context,
        limits: None,
    };
    let started = Instant::now();
    let vote = match load(engine, &args.module, None) {
        Ok(policy) => decide::evaluate(
            Runner::Wasm(engine, policy),
            &config,
            &shared,
            &args.state,
            started,
        ),
        Err(e) => decide::vote(&config, Err(e), started),
    };
    let verdict = decide::combine(std::slice::from_ref(&vote));
    let answer =
        crate::hook::respond::answer(&input, &verdict, crate::hook::respond::Options::default());
    let report = json!({
        "decision": vote.decision.as_str(),
        "reason": vote.reason,
        "model": vote.model,
        "error": vote.error,
        "state": vote.state.as_deref().and_then(|s| serde_json::from_str::<Value>(s).ok()),
        "elapsed_ms": vote.elapsed_us as f64 / 1000.0,
        "answer": answer.json,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("decision  {}", vote.decision.as_str());
        if let Some(reason) = &vote.reason {
            println!("reason    {}", printable(reason));
        }
        if let Some(model) = &vote.model {
            println!("model     {}", printable(model));
        }
        if let Some(error) = &vote.error {
            println!("error     {}", printable(error));
        }
        println!("time      {:.2} ms", vote.elapsed_us as f64 / 1000.0);
        match &answer.json {
            Some(json) => println!("answer    {json}"),
            None => println!("answer    (nothing: Claude Code proceeds)"),
        }
    }
    Ok(if vote.error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
