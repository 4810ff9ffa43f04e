//! The sandboxed WASM policy engine (wasmtime).
//!
//! One [`Engine`] per process. A policy module is compiled once and cached on disk as native
//! code ([`cache`]), so the hot path only deserializes it. Each evaluation gets a fresh store
//! and instance with capped memory, tables, time (fuel), output size, log and wasm stack; WASI
//! preview 1 is linked with no capabilities at all, and only for modules that import it.
//!
//! Time: wasm code runs on fuel, [`FUEL_PER_MS`] operations for each millisecond of its limit,
//! and traps when it runs out: no timer thread, and the same input stops at the same point on
//! any machine. Bulk operations (`memory.fill`, `memory.copy`, `table.grow`, …) cost fuel per
//! byte or element, and every host call costs fuel too, charged before it reads anything
//! (`host`); a host call that returns past the evaluation's limit in wall time traps. A
//! module that imports WASI (whose `poll_oneoff` sleeps, where nothing can interrupt it) runs
//! on a worker thread that is abandoned if it does not answer shortly after its limit, in wall
//! time. Any other module (the built-ins import nothing) runs on the calling thread: a thread
//! per evaluation cost more than the evaluation itself.
//!
//! Loading is bounded too: a module larger than [`MAX_MODULE_BYTES`] is refused before it is
//! read or compiled, and a compilation that takes longer than the engine's limit
//! ([`COMPILE_LIMIT`], a hook call's deadline) is given up.
//! See `sdk/ABI.md` for the contract.

mod cache;
mod host;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::{Config, ExternType, Linker, Module, Trap, ValType, WasmBacktrace};

use crate::config::Limits;
use host::{Action, Host, SandboxLimit, Style};
pub use host::{
    COUNT_FUEL_PER_BYTE, HOST_CALL_FUEL, LOG_BYTES, LOG_FUEL_PER_BYTE, LOG_LINE_BYTES, LOG_LINES,
    MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES,
};

/// The ABI version this host speaks.
pub const ABI_VERSION: i32 = 1;

/// Why a policy could not be loaded or evaluated.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// The file cannot be read (missing, not a regular file, too large).
    #[error("{detail}")]
    Read {
        /// The module file.
        path: PathBuf,
        /// What went wrong, the file named.
        detail: String,
    },
    /// The module's sha256 is not the pinned one.
    #[error(
        "sha256 is {actual}, but the config pins {expected}: the file changed; check it and update the pin"
    )]
    HashMismatch {
        /// The pinned hash.
        expected: String,
        /// The file's hash.
        actual: String,
    },
    /// Not valid WebAssembly (or WAT), or a feature this host does not enable.
    #[error("not a valid module: {0}")]
    Invalid(String),
    /// The module does not fit the ABI (exports, imports, version).
    #[error("{0}")]
    Abi(String),
    /// A trap (unreachable, out-of-bounds access, stack overflow, …).
    #[error("trapped: {0}")]
    Trap(String),
    /// Ran past its time limit.
    #[error("ran longer than its {ms} ms limit ({spent})")]
    Timeout {
        /// The limit, ms.
        ms: u64,
        /// Which measure of time ran out.
        spent: Spent,
    },
    /// Tried to grow memory past its limit.
    #[error("tried to use more than its {0} MiB memory limit")]
    Memory(u64),
    /// Defines or grows memories or tables past what the sandbox allows.
    #[error("{0}")]
    OverLimit(String),
    /// The module file is larger than [`MAX_MODULE_BYTES`].
    #[error("is {bytes} bytes, over the {} MiB a module may have", MAX_MODULE_BYTES >> 20)]
    ModuleTooLarge {
        /// Its size.
        bytes: u64,
    },
    /// Compiling it took longer than a command waits ([`COMPILE_LIMIT`]).
    #[error(
        "was not compiled within {0:?}: `tollgate policy list` compiles the configured policies into the cache, once"
    )]
    CompileTimeout(Duration),
    /// Its output exceeded the output limit.
    #[error("wrote more than its {0} KiB output limit")]
    OutputTooLarge(u64),
    /// A command-style module exited with a non-zero code.
    #[error("exited with code {0}")]
    Exit(i32),
    /// The output is not a valid output document.
    #[error("returned an invalid output: {0}")]
    BadOutput(String),
    /// The policy engine (wasmtime) did not start.
    #[error("could not run: the policy engine did not start: {0}")]
    Engine(String),
    /// Not run: the hook call's time budget had no time left for it.
    #[error(
        "not run: the hook call had no time left for it (a slow input, or a store locked by another process)"
    )]
    NoTime,
    /// Not run: its module was not compiled yet, and compiling it takes longer than the call
    /// had left.
    #[error(
        "not run: its module ({0} KiB) is not compiled yet, and compiling it takes longer than a hook call may wait (`tollgate policy check` compiles it ahead)"
    )]
    Compiling(u64),
    /// The policy reported an error itself (`{"error": …}`).
    #[error("reported an error: {0}")]
    Reported(String),
}

/// Which measure of a policy's time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// Its fuel: the wasm operations and host calls its limit buys.
    Fuel,
    /// Its limit in wall time: a host call returned late, or no answer came.
    Wall,
}

impl std::fmt::Display for Spent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Spent::Fuel => "out of fuel",
            Spent::Wall => "in wall time",
        })
    }
}

/// Largest module accepted, in bytes: larger ones are refused before they are read. A large
/// module is compiled into the cache by `tollgate policy list` or `doctor` rather than within
/// a hook call, which gives up at its deadline: the built-ins' 411 KB took 2.0–2.8 s here.
pub const MAX_MODULE_BYTES: u64 = 32 << 20;

/// How long a command waits for a module to compile. Compile time grows with the number of
/// functions more than with their size: a 1.8 MB module of 200,000 tiny functions took 79 s
/// and 1.1 GB here, 7 MB of straight-line code in one function 1.2 s.
pub const COMPILE_LIMIT: Duration = Duration::from_secs(120);

/// A compiled policy, ready to evaluate.
#[derive(Clone)]
pub struct Policy {
    module: Module,
    style: Style,
    /// Imports a host call that may block, so it runs on a guarded thread.
    blocking: bool,
    /// Imports WASI, so it gets WASI's linker and a (capability-free) WASI context.
    wasi: bool,
    /// Imports anything: its host calls are charged and checked against its deadline.
    imports_any: bool,
    /// Imports `tollgate.count_tokens`: the tokenizer is loaded before its clock starts.
    counts_tokens: bool,
    /// The module's sha256 (hex).
    pub sha256: String,
    /// Whether it was loaded from the precompiled cache (false: compiled by this engine).
    pub cached: bool,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("style", &self.style)
            .field("sha256", &self.sha256)
            .field("cached", &self.cached)
            .finish()
    }
}

impl Policy {
    /// `reactor` or `command`.
    pub fn style(&self) -> &'static str {
        match self.style {
            Style::Reactor => "reactor",
            Style::Command => "command",
        }
    }

    /// The module's imports, as `module.name`.
    pub fn imports(&self) -> Vec<String> {
        self.module
            .imports()
            .map(|i| format!("{}.{}", i.module(), i.name()))
            .collect()
    }
}

/// The result of one evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The output document's bytes.
    pub output: Vec<u8>,
    /// What the policy logged (the `log` import, stderr, or stdout for reactors).
    pub log: Vec<String>,
    /// The fuel it used, host calls included (see [`FUEL_PER_MS`]).
    pub fuel_used: u64,
}

/// Fuel per millisecond of a policy's time limit: wasm operations, most of which cost 1. On the
/// project's machine a busy loop burns 1M in ~0.55 ms, and each built-in uses ~0.3M per call
/// in ~0.1 ms, so code like theirs stops before its limit in wall time; code slower per
/// operation (large memory growth, say) runs proportionally longer.
pub const FUEL_PER_MS: u64 = 1_000_000;

/// What the compiling engine sets beyond wasmtime's defaults: part of the cache's file names.
const COMPILER_SETTINGS: &str = "cranelift opt=speed, no native unwind info, no address map";

/// The policy engine. Evaluations may run concurrently from several threads.
pub struct Engine {
    /// Runs modules; it cannot compile (building Cranelift's compiler for every engine cost
    /// ~0.1 ms of each hook call, though a warm cache never compiles).
    engine: wasmtime::Engine,
    /// The same configuration with the compiler, made on the first module not in the cache.
    compiler: OnceLock<Result<wasmtime::Engine, String>>,
    config: Config,
    /// The `tollgate` imports; with WASI preview 1 added on first need (defining its ~45
    /// functions costs more than a whole built-in evaluation).
    linker: Linker<Host>,
    wasi_linker: OnceLock<Result<Linker<Host>, String>>,
    cache_dir: Option<PathBuf>,
    /// Modules already loaded in this process, by sha256: a module configured twice (or the
    /// built-ins, which share one) is mapped and its code touched once.
    loaded: std::sync::Mutex<Vec<(String, Module, bool)>>,
    /// When compiling a module must have finished (a hook call's); `None`: no limit.
    compile_until: Option<Instant>,
}

impl Engine {
    /// An engine whose precompiled modules are cached in `cache_dir` (`None`: no disk cache),
    /// with the default wasm stack limit.
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        Self::with_stack(cache_dir, Limits::default().stack_kib)
    }

    /// An engine whose guests get `stack_kib` KiB of wasm stack (wasmtime sets the stack limit
    /// per engine; the precompiled cache is shared, as the stack does not change the code).
    pub fn with_stack(cache_dir: Option<PathBuf>, stack_kib: u64) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .max_wasm_stack(stack_kib.clamp(16, 64 * 1024) as usize * 1024)
            .wasm_component_model(false)
            .cranelift_opt_level(wasmtime::OptLevel::Speed)
            // Each module load registered its unwind tables with the system unwinder, and its
            // code carried a wasm address map: ~0.1 ms of every hook call. Wasmtime's own
            // backtraces walk frame pointers, and host panics never unwind through wasm.
            .native_unwind_info(false)
            .generate_address_map(false);
        let mut runtime = config.clone();
        runtime.enable_compiler(false);
        let engine = wasmtime::Engine::new(&runtime)?;
        let linker = host::linker(&engine)?;
        Ok(Self {
            engine,
            compiler: OnceLock::new(),
            config,
            linker,
            wasi_linker: OnceLock::new(),
            cache_dir,
            loaded: std::sync::Mutex::default(),
            compile_until: None,
        })
    }

    /// The same engine, giving up on compiling a module not compiled before at `until`
    /// ([`PolicyError::Compiling`]): Cranelift takes about a second of CPU per 400 KB of
    /// WASM, and a hook call cannot wait that long for a large module.
    pub fn compile_until(mut self, until: Instant) -> Self {
        self.compile_until = Some(until);
        self
    }

    /// Loads a module from its bytes (binary WASM or WAT text), from the cache when it has
    /// been compiled before. `sha256`, when given, is the module's known hash (saves hashing);
    /// `pin` is the hash the config requires.
    pub fn load(
        &self,
        bytes: &[u8],
        sha256: Option<&str>,
        pin: Option<&str>,
    ) -> Result<Policy, PolicyError> {
        check_size(bytes.len() as u64)?;
        let sha256 = match sha256 {
            Some(known) => known.to_owned(),
            None => hex::encode(Sha256::digest(bytes)),
        };
        check_pin(&sha256, pin)?;
        let (module, from_cache) = match self.loaded_or_cached(&sha256) {
            Some(loaded) => loaded,
            None => {
                let module = self.compile(bytes, &sha256)?;
                self.remember(&sha256, &module, false);
                (module, false)
            }
        };
        Self::policy(module, sha256, from_cache)
    }

    /// A loaded module as a policy, once it fits the ABI.
    fn policy(module: Module, sha256: String, cached: bool) -> Result<Policy, PolicyError> {
        let style = host::check(&module)?;
        let wasi = module.imports().any(|i| i.module() == host::WASI_MODULE);
        let imports_any = module.imports().len() > 0;
        let counts_tokens = module
            .imports()
            .any(|i| (i.module(), i.name()) == ("tollgate", "count_tokens"));
        Ok(Policy {
            blocking: host::may_block(&module),
            wasi,
            imports_any,
            counts_tokens,
            module,
            style,
            sha256,
            cached,
        })
    }

    /// The module with this sha256 if this engine loaded it already or the precompiled cache
    /// has it, and whether it came from the cache.
    fn loaded_or_cached(&self, sha256: &str) -> Option<(Module, bool)> {
        if let Some(loaded) = self.already_loaded(sha256) {
            return Some(loaded);
        }
        let module = self.cache()?.load(sha256)?;
        self.remember(sha256, &module, true);
        Some((module, true))
    }

    /// Keeps a loaded module for the rest of this process, by sha256.
    fn remember(&self, sha256: &str, module: &Module, from_cache: bool) {
        if let Ok(mut modules) = self.loaded.lock() {
            modules.push((sha256.to_owned(), module.clone(), from_cache));
        }
    }

    /// The precompiled cache, if this engine has one.
    fn cache(&self) -> Option<cache::Cache<'_>> {
        let dir = self.cache_dir.as_deref()?;
        Some(cache::Cache::new(dir, &self.engine, COMPILER_SETTINGS))
    }

    /// The module with this sha256 if this engine loaded it already, and whether that load
    /// came from the cache.
    fn already_loaded(&self, sha256: &str) -> Option<(Module, bool)> {
        let modules = self.loaded.lock().ok()?;
        modules
            .iter()
            .find(|(sha, _, _)| sha == sha256)
            .map(|(_, module, cached)| (module.clone(), *cached))
    }

    /// The module compiled now (within the engine's compile limit), and saved in the
    /// precompiled cache.
    fn compile(&self, bytes: &[u8], sha256: &str) -> Result<Module, PolicyError> {
        let compiler = self.compiler()?;
        // On a thread of its own, so the caller can stop waiting (and leave it behind to finish
        // or to end with the process): by the hook call's deadline, else [`COMPILE_LIMIT`].
        let until = self
            .compile_until
            .unwrap_or_else(|| Instant::now() + COMPILE_LIMIT);
        let (send, receive) = mpsc::sync_channel(1);
        let (compiler, owned) = (compiler.clone(), bytes.to_vec());
        std::thread::Builder::new()
            .name("tollgate-compile".into())
            .spawn(move || {
                let _ = send.send(compiler.precompile_module(&owned));
            })
            .map_err(|e| PolicyError::Engine(format!("cannot start the compiler's thread: {e}")))?;
        let compiled = receive
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .map_err(|_| match self.compile_until {
                Some(_) => PolicyError::Compiling(bytes.len() as u64 / 1024),
                None => PolicyError::CompileTimeout(COMPILE_LIMIT),
            })?;
        let code = compiled
            .map_err(|e| PolicyError::Invalid(crate::text::one_line(&format!("{e:#}")).into()))?;
        if let Some(cache) = self.cache() {
            cache.store(sha256, &code);
        }
        // SAFETY: `code` was compiled just now, in this process, by an engine with this
        // engine's configuration.
        unsafe { Module::deserialize(&self.engine, &code) }
            .map_err(|e| PolicyError::Invalid(crate::text::one_line(&format!("{e:#}")).into()))
    }

    /// The compiling engine, made on first need.
    fn compiler(&self) -> Result<&wasmtime::Engine, PolicyError> {
        self.compiler
            .get_or_init(|| wasmtime::Engine::new(&self.config).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| PolicyError::Invalid(format!("cannot start the compiler: {e}")))
    }

    /// Loads a module file (`.wasm`, or `.wat` text).
    ///
    /// A file whose sha256 the cache remembers for its identity (inode, size, change time) is
    /// not read again: a warm call costs two `stat`s instead of reading and hashing the module
    /// (~0.4 ms for a 320 KB one).
    pub fn load_file(
        &self,
        path: &std::path::Path,
        pin: Option<&str>,
    ) -> Result<Policy, PolicyError> {
        let read_error = |e: crate::files::FileError| PolicyError::Read {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        // A regular file only: a FIFO or a device is refused before it is opened.
        let meta = crate::files::metadata(path).map_err(read_error)?;
        check_size(meta.len())?;
        let remembered = self.cache_dir.as_deref().and_then(|dir| {
            let sha256 = cache::file_sha256(dir, path, &meta)?;
            let (module, cached) = self.loaded_or_cached(&sha256)?;
            Some((module, sha256, cached))
        });
        if let Some((module, sha256, cached)) = remembered {
            check_pin(&sha256, pin)?;
            return Self::policy(module, sha256, cached);
        }
        // Metadata first, then the bytes: if the file changes in between, the hash is
        // remembered for an identity the file no longer has, and never used.
        let bytes = crate::files::read(path, MAX_MODULE_BYTES).map_err(read_error)?;
        let policy = self.load(&bytes, None, pin)?;
        if let Some(dir) = &self.cache_dir {
            cache::remember_file_sha256(
                dir,
                path,
                &meta,
                &policy.sha256,
                std::time::SystemTime::now(),
            );
        }
        Ok(policy)
    }

    /// Evaluates `policy` on one input document within `limits`.
    pub fn evaluate(
        &self,
        policy: &Policy,
        input: &[u8],
        limits: &Limits,
    ) -> Result<Evaluation, PolicyError> {
        self.run_guarded(policy, Run::Evaluate(input.into()), limits)
    }

    /// The module's `tollgate_describe` document, if it exports one.
    pub fn describe(&self, policy: &Policy) -> Result<Option<serde_json::Value>, PolicyError> {
        let described = self.run_guarded(policy, Run::Describe, &Limits::default())?;
        if described.output.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&described.output)
            .map(Some)
            .map_err(|e| PolicyError::BadOutput(format!("tollgate_describe is not JSON: {e}")))
    }

    /// The module's `tollgate_check_config` answer on a config check document (built by
    /// `policy::config_check`), if it exports that function.
    pub fn check_config(
        &self,
        policy: &Policy,
        document: &[u8],
    ) -> Result<Option<Vec<u8>>, PolicyError> {
        let checked = self.run_guarded(
            policy,
            Run::CheckConfig(document.into()),
            &Limits::default(),
        )?;
        Ok((!checked.output.is_empty()).then_some(checked.output))
    }

    /// Runs one action within `limits`: wasm code on its fuel; a module that may block in a
    /// host call on a worker thread, abandoned if still not answering a moment after its limit.
    fn run_guarded(
        &self,
        policy: &Policy,
        run: Run,
        limits: &Limits,
    ) -> Result<Evaluation, PolicyError> {
        let linker = self.linker_for(policy)?;
        if policy.counts_tokens {
            // Before the clock starts: loading the tokenizer is the host's work.
            crate::policy::tokens::load();
        }
        if !policy.blocking {
            return host::run(&self.engine, linker, policy, &run.action(), limits);
        }
        let (send, receive) = mpsc::sync_channel(1);
        let engine = self.engine.clone();
        let linker = linker.clone();
        let policy = policy.clone();
        let run_limits = *limits;
        std::thread::Builder::new()
            .name("tollgate-policy".into())
            .spawn(move || {
                let _ = send.send(host::run(
                    &engine,
                    &linker,
                    &policy,
                    &run.action(),
                    &run_limits,
                ));
            })
            .map_err(|e| PolicyError::Trap(format!("cannot start the policy thread: {e}")))?;
        let grace = Duration::from_millis(limits.time_ms) + Duration::from_millis(100);
        receive
            .recv_timeout(grace)
            .unwrap_or(Err(PolicyError::Timeout {
                ms: limits.time_ms,
                spent: Spent::Wall,
            }))
    }

    /// The linker with what `policy` imports: WASI is added the first time a module needs it.
    fn linker_for(&self, policy: &Policy) -> Result<&Linker<Host>, PolicyError> {
        if !policy.wasi {
            return Ok(&self.linker);
        }
        self.wasi_linker
            .get_or_init(|| host::with_wasi(self.linker.clone()).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| PolicyError::Trap(format!("cannot link WASI: {e}")))
    }
}

/// What [`Engine::run_guarded`] runs, owning its input (it may move to a worker thread).
enum Run {
    Evaluate(Arc<[u8]>),
    Describe,
    CheckConfig(Arc<[u8]>),
}

impl Run {
    fn action(&self) -> Action<'_> {
        match self {
            Run::Evaluate(input) => Action::Evaluate(input),
            Run::Describe => Action::Describe,
            Run::CheckConfig(input) => Action::CheckConfig(input),
        }
    }
}

/// Fails if a module of `bytes` is over [`MAX_MODULE_BYTES`].
fn check_size(bytes: u64) -> Result<(), PolicyError> {
    if bytes > MAX_MODULE_BYTES {
        return Err(PolicyError::ModuleTooLarge { bytes });
    }
    Ok(())
}

/// Fails unless the module's sha256 is the pinned one (if any).
pub fn check_pin(sha256: &str, pin: Option<&str>) -> Result<(), PolicyError> {
    match pin {
        Some(pin) if !pin.eq_ignore_ascii_case(sha256) => Err(PolicyError::HashMismatch {
            expected: pin.to_owned(),
            actual: sha256.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The first error of type `E` in `error`'s chain.
fn find<E: std::error::Error + Send + Sync + 'static>(error: &wasmtime::Error) -> Option<&E> {
    error.chain().find_map(|cause| cause.downcast_ref::<E>())
}

/// Maps a wasmtime error from running guest code to a [`PolicyError`], on one line: the cause,
/// and where in the module it happened (wasmtime's backtrace spans several lines).
fn runtime_error(error: wasmtime::Error, limits: &Limits) -> PolicyError {
    if let Some(exit) = find::<wasmtime_wasi::I32Exit>(&error) {
        return PolicyError::Exit(exit.0);
    }
    if let Some(limit) = find::<SandboxLimit>(&error) {
        return host::limit_error(*limit, limits);
    }
    let cause = match find::<Trap>(&error) {
        Some(Trap::OutOfFuel) => {
            return PolicyError::Timeout {
                ms: limits.time_ms,
                spent: Spent::Fuel,
            };
        }
        Some(Trap::AllocationTooLarge) => return PolicyError::Memory(limits.memory_mib),
        Some(Trap::StackOverflow) => "wasm stack overflow (deep recursion)".to_owned(),
        Some(trap) => trap.to_string(),
        None => crate::text::one_line(&error.root_cause().to_string()).into_owned(),
    };
    match error.downcast_ref::<WasmBacktrace>().map(call_path) {
        Some(path) if !path.is_empty() => PolicyError::Trap(format!("{cause} (in {path})")),
        _ => PolicyError::Trap(cause),
    }
}

/// The innermost frames of a backtrace, innermost first: `f ← g ← h`.
fn call_path(backtrace: &WasmBacktrace) -> String {
    const FRAMES: usize = 3;
    let frames = backtrace.frames();
    let mut path: Vec<String> = frames
        .iter()
        .take(FRAMES)
        .map(|frame| match frame.func_name() {
            Some(name) => crate::text::one_line(name).into_owned(),
            None => format!("function {}", frame.func_index()),
        })
        .collect();
    if frames.len() > FRAMES {
        path.push("…".to_owned());
    }
    path.join(" ← ")
}

fn is_i32(ty: &ValType) -> bool {
    matches!(ty, ValType::I32)
}

/// Whether an export is a function with exactly these parameter and result kinds.
fn func_sig(
    ty: Option<ExternType>,
    params: &[fn(&ValType) -> bool],
    results: &[fn(&ValType) -> bool],
) -> bool {
    let Some(ExternType::Func(f)) = ty else {
        return false;
    };
    f.params().len() == params.len()
        && f.results().len() == results.len()
        && f.params().zip(params).all(|(p, ok)| ok(&p))
        && f.results().zip(results).all(|(r, ok)| ok(&r))
}

#[cfg(test)]
mod tests {
    use super::{Engine, Module};

    /// A reactor that always allows; `tag` makes a distinct module.
    fn module(tag: &str) -> String {
        format!(
            r#"(module
                (memory (export "memory") 1)
                (data (i32.const 16) "{{\"decision\":\"allow\"}}")
                (func (export "tollgate_alloc") (param i32) (result i32) i32.const 1024)
                (func (export "tollgate_evaluate") (param i32 i32) (result i64)
                  i64.const 0x1000000014)
                (func ${tag}))"#
        )
    }

    #[test]
    fn an_engine_loads_each_module_once() {
        let engine = Engine::new(None).unwrap();
        let a = engine.load(module("a").as_bytes(), None, None).unwrap();
        let again = engine.load(module("a").as_bytes(), None, None).unwrap();
        let b = engine.load(module("b").as_bytes(), None, None).unwrap();
        assert!(Module::same(&a.module, &again.module));
        assert!(!Module::same(&a.module, &b.module));
        assert!(
            !again.cached,
            "compiled by this engine, not read from a cache"
        );
        let output = engine
            .evaluate(&again, b"{}", &crate::config::Limits::default())
            .unwrap();
        assert_eq!(output.output, br#"{"decision":"allow"}"#);
    }

    /// A module not compiled yet, with no time left to compile it: refused at once, not
    /// waited on; with time, compiled as usual.
    #[test]
    fn compiling_stops_at_the_engines_deadline() {
        let spent = Engine::new(None)
            .unwrap()
            .compile_until(std::time::Instant::now());
        let error = spent.load(module("c").as_bytes(), None, None).unwrap_err();
        assert!(matches!(error, super::PolicyError::Compiling(_)), "{error}");
        let later = std::time::Instant::now() + std::time::Duration::from_secs(600);
        let engine = Engine::new(None).unwrap().compile_until(later);
        assert!(engine.load(module("c").as_bytes(), None, None).is_ok());
    }
}
