//! The sandbox against hostile modules (`fixtures/hostile/*.wat`), one concern a module as in
//! wasmtime's own tests: fuel (host calls are charged before they read anything), limits
//! (memories, tables, output, log), infinite loops, and the hook's answer to each. Every case
//! asserts which limit stopped it; the wall-clock bound is only a backstop against a hang.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tollgate::config::Limits;
use tollgate::hook::decide::{Decision, Output};
use tollgate::policy::engine::{Engine, Evaluation, MAX_MODULE_BYTES, PolicyError, Spent};

const INPUT: &[u8] = br#"{"abi":1,"policy":{"name":"t","config":{}},"event":{"hook_event_name":"PreToolUse"},"state":{}}"#;

/// No hostile module may hold its caller this long: a hang guard, not a speed target.
const BACKSTOP: Duration = Duration::from_secs(5);

fn hostile(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/hostile/{name}.wat"))
}

/// Loads and evaluates a hostile fixture in a fresh engine, within the backstop.
fn run(name: &str, limits: Limits) -> Result<Evaluation, PolicyError> {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(Some(dir.path().join("cache"))).unwrap();
    let started = Instant::now();
    let result = engine
        .load_file(&hostile(name), None)
        .and_then(|policy| engine.evaluate(&policy, INPUT, &limits));
    assert!(
        started.elapsed() < BACKSTOP,
        "{name} held the caller for {:?}",
        started.elapsed()
    );
    result
}

fn error(name: &str) -> PolicyError {
    match run(name, Limits::default()) {
        Ok(evaluation) => panic!("{name} answered {:?}", evaluation.output),
        Err(e) => e,
    }
}

fn out_of_fuel(name: &str) -> bool {
    matches!(
        error(name),
        PolicyError::Timeout {
            ms: 50,
            spent: Spent::Fuel
        }
    )
}

mod fuel {
    use super::*;
    use tollgate::policy::engine::{HOST_CALL_FUEL, LOG_FUEL_PER_BYTE, LOG_LINE_BYTES};

    /// 128 KiB messages in a loop: each call is charged before it reads, and once the log is
    /// full a call reads nothing but still pays for itself.
    #[test]
    fn a_log_flood_runs_out_of_fuel() {
        assert!(out_of_fuel("log_flood"));
    }

    /// An empty message in a tight loop: the call's own fee ends it.
    #[test]
    fn a_host_call_loop_runs_out_of_fuel() {
        assert!(out_of_fuel("host_call_loop"));
    }

    /// One message as large as the whole memory: only what the log keeps is read and paid
    /// for, and the policy still answers.
    #[test]
    fn a_huge_log_message_is_cut_before_it_is_read() {
        let evaluation = run("log_huge", Limits::default()).unwrap();
        assert_eq!(
            Output::parse(&evaluation.output).unwrap().decision,
            Some(Decision::Allow)
        );
        assert_eq!(evaluation.log.len(), 1);
        let line = &evaluation.log[0];
        assert!(line.starts_with("info: ") && line.ends_with('…'), "{line}");
        assert!(line.len() <= "info: ".len() + LOG_LINE_BYTES + '…'.len_utf8());
        // The fee and 1 KiB, not 62.5 MiB, plus a few wasm operations.
        let charged = HOST_CALL_FUEL + LOG_LINE_BYTES as u64 * LOG_FUEL_PER_BYTE;
        assert!(
            (charged..charged + 100).contains(&evaluation.fuel_used),
            "{} fuel",
            evaluation.fuel_used
        );
    }

    /// 1 MiB of text a call: charged at the tokenizer's slowest rate before it is read, more
    /// than the whole limit, so the first call traps.
    #[test]
    fn counting_tokens_is_charged_before_counting() {
        assert!(out_of_fuel("count_tokens_flood"));
    }

    /// `memory.fill` of 62.5 MiB in a loop: bulk operations cost fuel per byte.
    #[test]
    fn a_bulk_fill_loop_runs_out_of_fuel() {
        assert!(out_of_fuel("bulk_fill"));
    }

    /// WASI calls that each copy 60 MiB (random_get) or try to write 1 MiB: the first one
    /// that returns past the limit in wall time traps, so the worker thread ends too.
    #[test]
    fn wasi_floods_stop_at_the_deadline() {
        for name in ["wasi_random_flood", "wasi_write_flood"] {
            let error = error(name);
            assert!(
                matches!(error, PolicyError::Timeout { ms: 50, .. }),
                "{name}: {error}"
            );
        }
    }
}

mod limits {
    use super::*;
    use tollgate::policy::engine::{MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES};

    /// A billion-element table is refused when the module loads, before anything is allocated.
    #[test]
    fn a_huge_table_is_refused_at_load() {
        let error = error("table_huge");
        assert!(
            matches!(&error, PolicyError::OverLimit(m)
                if m == &format!("defines a table of 1000000000 elements; a table may hold {MAX_TABLE_ELEMENTS}")),
            "{error}"
        );
    }

    #[test]
    fn table_growth_stops_at_the_limit() {
        let error = error("table_grow");
        assert!(
            matches!(&error, PolicyError::OverLimit(m)
                if m == &format!("tried to grow a table past {MAX_TABLE_ELEMENTS} elements")),
            "{error}"
        );
    }

    #[test]
    fn memory_growth_stops_at_the_limit() {
        let limits = Limits {
            memory_mib: 8,
            ..Limits::default()
        };
        let error = run("memory_grow", limits).unwrap_err();
        assert!(matches!(error, PolicyError::Memory(8)), "{error}");
    }

    #[test]
    fn an_initial_memory_over_the_limit_is_refused() {
        let limits = Limits {
            memory_mib: 1,
            ..Limits::default()
        };
        let error = run("huge_output", limits).unwrap_err();
        assert!(matches!(error, PolicyError::Memory(1)), "{error}");
    }

    /// Eight memories of 60 MiB, each under the limit: refused for their number, at load.
    #[test]
    fn many_memories_are_refused_at_load() {
        let error = error("many_memories");
        assert!(
            matches!(&error, PolicyError::OverLimit(m)
                if m == &format!("defines 8 linear memories; a policy may define {MAX_MEMORIES}")),
            "{error}"
        );
    }

    #[test]
    fn many_tables_are_refused_at_load() {
        let error = error("many_tables");
        assert!(
            matches!(&error, PolicyError::OverLimit(m)
                if m == &format!("defines 16 tables; a policy may define {MAX_TABLES}")),
            "{error}"
        );
    }

    #[test]
    fn a_huge_output_is_refused() {
        assert!(matches!(
            error("huge_output"),
            PolicyError::OutputTooLarge(64)
        ));
    }

    /// A module over the size limit is refused before it is read or compiled: here, one data
    /// segment of 33 MiB.
    #[test]
    fn a_huge_module_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge_data.wat");
        let data = "a".repeat(MAX_MODULE_BYTES as usize + (1 << 20));
        std::fs::write(
            &path,
            format!(
                "(module (memory (export \"memory\") 600) (data (i32.const 0) \"{data}\")\n\
                 (func (export \"tollgate_alloc\") (param i32) (result i32) (i32.const 0))\n\
                 (func (export \"tollgate_evaluate\") (param i32 i32) (result i64) (i64.const 0)))"
            ),
        )
        .unwrap();
        let engine = Engine::new(Some(dir.path().join("cache"))).unwrap();
        let started = Instant::now();
        let error = engine.load_file(&path, None).unwrap_err();
        assert!(
            matches!(error, PolicyError::ModuleTooLarge { bytes } if bytes > MAX_MODULE_BYTES),
            "{error}"
        );
        assert!(started.elapsed() < BACKSTOP);
    }

    /// An engine with a compile deadline (a hook call's) gives up on a module that takes
    /// longer, rather than keep the call waiting: here the built-ins' module, against 1 ms.
    #[test]
    fn a_slow_compilation_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::new(Some(dir.path().join("cache")))
            .unwrap()
            .compile_until(Instant::now() + Duration::from_millis(1));
        let (bytes, _) = tollgate::policy::builtin::get("budget").unwrap();
        let started = Instant::now();
        let error = engine.load(bytes, None, None).unwrap_err();
        assert!(matches!(error, PolicyError::Compiling(_)), "{error}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    /// A data segment under the size limit is copied into memory on every instantiation: it
    /// costs its copy, no more (8 MiB here, against the 64 MiB memory limit).
    #[test]
    fn a_large_data_segment_loads_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.wat");
        let data = "x".repeat(8 << 20);
        std::fs::write(
            &path,
            format!(
                "(module (memory (export \"memory\") 130)\n\
                 (data (i32.const 0) \"{{\\\"decision\\\":\\\"allow\\\"}}{data}\")\n\
                 (func (export \"tollgate_alloc\") (param i32) (result i32) (i32.const 8388700))\n\
                 (func (export \"tollgate_evaluate\") (param i32 i32) (result i64) (i64.const 20)))"
            ),
        )
        .unwrap();
        let engine = Engine::new(Some(dir.path().join("cache"))).unwrap();
        let policy = engine.load_file(&path, None).unwrap();
        let evaluation = engine.evaluate(&policy, INPUT, &Limits::default()).unwrap();
        assert_eq!(
            Output::parse(&evaluation.output).unwrap().decision,
            Some(Decision::Allow)
        );
    }
}

mod iloop {
    use super::*;

    #[test]
    fn an_infinite_loop_runs_out_of_fuel() {
        assert!(out_of_fuel("loop"));
    }

    /// The start function runs while the module is instantiated, on the same fuel.
    #[test]
    fn a_start_function_that_loops_runs_out_of_fuel() {
        assert!(out_of_fuel("start_loop"));
    }

    #[test]
    fn deep_recursion_overflows_the_wasm_stack() {
        assert!(matches!(error("recursion"), PolicyError::Trap(m) if m.contains("stack overflow")));
    }

    /// A 10 s WASI sleep cannot be interrupted: the caller stops waiting a moment after the
    /// limit, in wall time.
    #[test]
    fn a_blocking_host_call_is_abandoned() {
        assert!(matches!(
            error("sleep"),
            PolicyError::Timeout {
                ms: 50,
                spent: Spent::Wall
            }
        ));
    }
}

/// The hook with each hostile module as a policy (`on_error = "deny"`): it answers deny within
/// the backstop, and writes exactly one line on stderr, naming the policy.
#[test]
fn the_hook_answers_each_hostile_policy_per_on_error_on_one_line() {
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(hostile("").parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|x| x == "wat"))
        .collect();
    fixtures.sort();
    // A trap's message is several lines in wasmtime (its backtrace).
    fixtures.push(common::fixtures().join("policies/trap.wat"));
    assert!(fixtures.len() >= 17, "{fixtures:?}");
    for fixture in fixtures {
        let name = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let env = common::TestEnv::new();
        env.config(&format!(
            "[[policy]]\nname = {name:?}\npath = {:?}\non_error = \"deny\"\n",
            fixture.display().to_string()
        ));
        let started = Instant::now();
        let output = env.hook(&env.input("pre-tool-use-bash"));
        let elapsed = started.elapsed();
        assert!(output.status.success(), "{name}");
        let answer = common::stdout_json(&output);
        let stderr = common::stderr(&output);
        if name == "log_huge" {
            // Within its limits: it answers allow, and nothing goes to stderr.
            assert_eq!(answer, None, "{name}");
            assert_eq!(stderr, "", "{name}");
            continue;
        }
        let answer = answer.unwrap_or_else(|| panic!("{name}: no answer; stderr {stderr}"));
        assert_eq!(
            answer["hookSpecificOutput"]["permissionDecision"], "deny",
            "{name}: {answer}"
        );
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {stderr:?}");
        assert!(
            lines[0].starts_with(&format!("tollgate: policy \"{name}\" "))
                && lines[0].ends_with("; answered deny (on_error)"),
            "{name}: {stderr:?}"
        );
        // Compiling the module is part of a cold call: a generous bound, still far from a hang.
        assert!(elapsed < BACKSTOP * 2, "{name} took {elapsed:?}");
    }
}
