//! The sandbox a policy runs in: its imports, its limits, and the two ABI call styles.
//!
//! Every limit is checked before the work it limits: a host call is charged its fuel before it
//! reads guest memory, a table or memory is refused before it is allocated, a module's shape
//! (memories, tables) is checked when it is loaded.

use std::time::Instant;

use wasmtime::{
    CallHook, Caller, Extern, ExternType, Linker, Memory, Module, ResourceLimiter, Store,
    StoreContextMut, Trap,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use super::{ABI_VERSION, Evaluation, Policy, PolicyError, Spent, func_sig, is_i32, runtime_error};
use crate::config::Limits;

/// Most policy log text kept per evaluation, in bytes.
pub const LOG_BYTES: usize = 16 * 1024;
/// Most policy log messages kept per evaluation.
pub const LOG_LINES: usize = 100;
/// Longest log message kept, in bytes: a longer one is cut (and marked `…`).
pub const LOG_LINE_BYTES: usize = 1024;

/// Fuel every call to the host costs (any import: `tollgate.*` or WASI), charged before the
/// call runs: 10 µs of the time limit ([`super::FUEL_PER_MS`]), several times what a call
/// costs even in a debug build, so that fuel, which stops at the same point on any machine,
/// ends a loop of host calls before its limit in wall time does.
pub const HOST_CALL_FUEL: u64 = 10_000;
/// Fuel per byte of a message `tollgate.log` reads, on top of [`HOST_CALL_FUEL`].
pub const LOG_FUEL_PER_BYTE: u64 = 1;
/// Fuel per byte of text `tollgate.count_tokens` counts, on top of [`HOST_CALL_FUEL`]: the
/// tokenizer's slowest measured rate (~0.5 µs a byte, see [`crate::policy::tokens`]).
pub const COUNT_FUEL_PER_BYTE: u64 = 500;

/// Linear memories a module may define.
pub const MAX_MEMORIES: u32 = 1;
/// Tables a module may define.
pub const MAX_TABLES: u32 = 2;
/// Elements a table may hold, initially or grown (8 bytes each: 8 MiB).
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// How a module is called (sdk/ABI.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Exports `tollgate_alloc` / `tollgate_evaluate`.
    Reactor,
    /// A WASI command: `_start`, stdin → stdout.
    Command,
}

/// What to run.
pub enum Action<'a> {
    /// One evaluation of this input document.
    Evaluate(&'a [u8]),
    /// `tollgate_describe`.
    Describe,
    /// `tollgate_check_config` on this document (`abi` and `policy`).
    CheckConfig(&'a [u8]),
}

/// The import module of WASI preview 1.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// A sandbox limit a module ran into, raised as a trap by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SandboxLimit {
    /// Its memory would grow past the policy's `memory_mib`.
    #[error("memory limit")]
    Memory,
    /// A table would grow past [`MAX_TABLE_ELEMENTS`].
    #[error("table limit")]
    Table,
    /// Its host calls ran past its time limit in wall time.
    #[error("deadline")]
    Deadline,
}

/// Per-store host state.
pub struct Host {
    /// Largest linear memory allowed, in bytes.
    memory_bytes: usize,
    /// When the evaluation must be over: checked as each host call returns.
    deadline: Instant,
    /// Built only for modules that import WASI.
    wasi: Option<WasiP1Ctx>,
    log: Vec<String>,
    log_bytes: usize,
    /// Log messages not kept (past [`LOG_LINES`] or [`LOG_BYTES`]).
    log_dropped: usize,
}

impl Host {
    /// Bytes the next log message may take: 0 once the log is full.
    fn log_room(&self) -> usize {
        if self.log.len() >= LOG_LINES {
            return 0;
        }
        LOG_LINE_BYTES.min(LOG_BYTES.saturating_sub(self.log_bytes))
    }

    fn push_log(&mut self, line: String) {
        self.log_bytes += line.len();
        self.log.push(line);
    }

    /// The log, with a last line counting the messages that were not kept.
    fn take_log(&mut self) -> Vec<String> {
        let mut log = std::mem::take(&mut self.log);
        if self.log_dropped > 0 {
            log.push(format!(
                "({} more log messages not kept: a policy's log holds {LOG_LINES} messages, {} KiB)",
                self.log_dropped,
                LOG_BYTES / 1024
            ));
        }
        log
    }
}

impl ResourceLimiter for Host {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            return Err(SandboxLimit::Memory.into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(SandboxLimit::Table.into());
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        MAX_TABLES as usize
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES as usize
    }
}

/// `linker` plus WASI preview 1 (whose context grants nothing).
pub fn with_wasi(mut linker: Linker<Host>) -> anyhow::Result<Linker<Host>> {
    p1::add_to_linker_sync(&mut linker, |host: &mut Host| {
        host.wasi
            .get_or_insert_with(|| WasiCtxBuilder::new().build_p1())
    })?;
    Ok(linker)
}

/// Whether a module imports a host call that may block (WASI: `poll_oneoff` sleeps).
pub fn may_block(module: &Module) -> bool {
    module.imports().any(|i| i.module() == WASI_MODULE)
}

/// The fuel left once `fuel` is taken from `left`, or an out-of-fuel trap.
fn take_fuel(left: u64, fuel: u64) -> wasmtime::Result<u64> {
    left.checked_sub(fuel).ok_or_else(|| Trap::OutOfFuel.into())
}

/// Charges `fuel` to the calling policy before a host function does its work.
fn charge_caller(caller: &mut Caller<'_, Host>, fuel: u64) -> wasmtime::Result<()> {
    let left = take_fuel(caller.get_fuel()?, fuel)?;
    caller.set_fuel(left)
}

/// What every host call goes through: its fuel is charged before it runs, and when it
/// returns, an evaluation past its deadline traps (a host call cannot be interrupted, but the
/// policy cannot go on after it).
fn on_host_call(mut store: StoreContextMut<'_, Host>, call: CallHook) -> wasmtime::Result<()> {
    match call {
        CallHook::CallingHost => {
            let left = take_fuel(store.get_fuel()?, HOST_CALL_FUEL)?;
            store.set_fuel(left)
        }
        CallHook::ReturningFromHost if Instant::now() >= store.data().deadline => {
            Err(SandboxLimit::Deadline.into())
        }
        _ => Ok(()),
    }
}

/// The linker with the `tollgate` imports.
pub fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    linker.func_wrap(
        "tollgate",
        "log",
        |mut caller: Caller<'_, Host>, level: i32, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let len = len as u32 as usize;
            let room = caller.data().log_room();
            if room == 0 {
                caller.data_mut().log_dropped += 1;
                return Ok(());
            }
            let take = len.min(room);
            charge_caller(&mut caller, take as u64 * LOG_FUEL_PER_BYTE)?;
            let text = match guest_bytes(&mut caller, ptr, take) {
                Some(bytes) => {
                    let text = String::from_utf8_lossy(bytes);
                    let text = crate::text::one_line(&text).into_owned();
                    if take < len {
                        format!("{text}…")
                    } else {
                        text
                    }
                }
                None => "<invalid log pointer>".to_owned(),
            };
            let level = match level {
                0 => "error",
                1 => "warn",
                2 => "info",
                _ => "debug",
            };
            caller.data_mut().push_log(format!("{level}: {text}"));
            Ok(())
        },
    )?;
    linker.func_wrap(
        "tollgate",
        "count_tokens",
        |mut caller: Caller<'_, Host>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            let len = len as u32 as usize;
            charge_caller(&mut caller, len as u64 * COUNT_FUEL_PER_BYTE)?;
            let Some(bytes) = guest_bytes(&mut caller, ptr, len) else {
                return Ok(-1);
            };
            Ok(match std::str::from_utf8(bytes) {
                Ok(text) => crate::policy::tokens::count(text).min(i32::MAX as usize) as i32,
                Err(_) => -1,
            })
        },
    )?;
    Ok(linker)
}

fn guest_memory(caller: &mut Caller<'_, Host>) -> Option<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Some(memory),
        _ => None,
    }
}

/// `len` bytes of the caller's memory at `ptr`, if they are all inside it.
fn guest_bytes<'a>(caller: &'a mut Caller<'_, Host>, ptr: i32, len: usize) -> Option<&'a [u8]> {
    let memory = guest_memory(caller)?;
    let start = ptr as u32 as usize;
    memory.data(&*caller).get(start..start.checked_add(len)?)
}

/// Checks a module against the ABI and the sandbox's shape limits: its imports, exports,
/// memories and tables. Returns its call style.
pub fn check(module: &Module) -> Result<Style, PolicyError> {
    check_resources(module)?;
    for import in module.imports() {
        let ok = match (import.module(), import.name()) {
            ("tollgate", "log") => {
                matches!(import.ty(), ExternType::Func(f) if f.params().len() == 3 && f.params().all(|p| is_i32(&p)) && f.results().len() == 0)
            }
            ("tollgate", "count_tokens") => {
                matches!(import.ty(), ExternType::Func(f) if f.params().len() == 2 && f.params().all(|p| is_i32(&p)) && f.results().len() == 1)
            }
            (WASI_MODULE, _) => true,
            _ => false,
        };
        if !ok {
            return Err(PolicyError::Abi(format!(
                "imports `{}.{}`, which tollgate does not provide: a policy may import only tollgate.log, tollgate.count_tokens and WASI preview 1 (see sdk/ABI.md)",
                import.module(),
                import.name()
            )));
        }
    }
    let i32_ = is_i32 as fn(&_) -> bool;
    let i64_ = (|t: &wasmtime::ValType| matches!(t, wasmtime::ValType::I64)) as fn(&_) -> bool;
    if module.get_export("tollgate_evaluate").is_some() {
        let memory = matches!(module.get_export("memory"), Some(ExternType::Memory(_)));
        let alloc = func_sig(module.get_export("tollgate_alloc"), &[i32_], &[i32_]);
        let evaluate = func_sig(
            module.get_export("tollgate_evaluate"),
            &[i32_, i32_],
            &[i64_],
        );
        if !(memory && alloc && evaluate) {
            return Err(PolicyError::Abi(
                "a reactor policy must export `memory`, `tollgate_alloc: (i32) -> i32` and `tollgate_evaluate: (i32, i32) -> i64` (see sdk/ABI.md)".into(),
            ));
        }
        for (name, ok) in [
            (
                "tollgate_abi_version",
                func_sig(module.get_export("tollgate_abi_version"), &[], &[i32_]),
            ),
            (
                "tollgate_describe",
                func_sig(module.get_export("tollgate_describe"), &[], &[i64_]),
            ),
            (
                "tollgate_check_config",
                func_sig(
                    module.get_export("tollgate_check_config"),
                    &[i32_, i32_],
                    &[i64_],
                ),
            ),
        ] {
            if module.get_export(name).is_some() && !ok {
                return Err(PolicyError::Abi(format!(
                    "export `{name}` has the wrong signature (see sdk/ABI.md)"
                )));
            }
        }
        return Ok(Style::Reactor);
    }
    if func_sig(module.get_export("_start"), &[], &[]) {
        return Ok(Style::Command);
    }
    Err(PolicyError::Abi(
        "exports neither `tollgate_evaluate` (reactor style) nor `_start` (WASI command style): see sdk/ABI.md".into(),
    ))
}

/// Refuses a module that defines more memories or tables than the sandbox allows, or a table
/// larger than [`MAX_TABLE_ELEMENTS`], before anything is allocated for it.
fn check_resources(module: &Module) -> Result<(), PolicyError> {
    let needs = module.resources_required();
    if needs.num_memories > MAX_MEMORIES {
        return Err(PolicyError::OverLimit(format!(
            "defines {} linear memories; a policy may define {MAX_MEMORIES}",
            needs.num_memories
        )));
    }
    if needs.num_tables > MAX_TABLES {
        return Err(PolicyError::OverLimit(format!(
            "defines {} tables; a policy may define {MAX_TABLES}",
            needs.num_tables
        )));
    }
    match needs.max_initial_table_size {
        Some(elements) if elements > MAX_TABLE_ELEMENTS as u64 => {
            Err(PolicyError::OverLimit(format!(
                "defines a table of {elements} elements; a table may hold {MAX_TABLE_ELEMENTS}"
            )))
        }
        _ => Ok(()),
    }
}

/// Runs `action` on a fresh instance of `policy` within `limits`.
pub fn run(
    engine: &wasmtime::Engine,
    linker: &Linker<Host>,
    policy: &Policy,
    action: &Action<'_>,
    limits: &Limits,
) -> Result<Evaluation, PolicyError> {
    let started = Instant::now();
    let output_cap = (limits.output_kib * 1024) as usize;
    let stdout = MemoryOutputPipe::new(output_cap + 1);
    let stderr = MemoryOutputPipe::new(LOG_BYTES);
    let wasi = policy.wasi.then(|| {
        let mut wasi = WasiCtxBuilder::new();
        if let (Style::Command, Action::Evaluate(input)) = (policy.style, action) {
            wasi.stdin(MemoryInputPipe::new(input.to_vec()));
        }
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        wasi.build_p1()
    });
    let host = Host {
        memory_bytes: usize::try_from(limits.memory_mib.saturating_mul(1024 * 1024))
            .unwrap_or(usize::MAX),
        deadline: started + std::time::Duration::from_millis(limits.time_ms.max(1)),
        wasi,
        log: Vec::new(),
        log_bytes: 0,
        log_dropped: 0,
    };
    let mut store = Store::new(engine, host);
    store.limiter(|host| host);
    if policy.imports_any {
        store.call_hook(on_host_call);
    }
    let fuel = limits.time_ms.max(1).saturating_mul(super::FUEL_PER_MS);
    store
        .set_fuel(fuel)
        .map_err(|e| PolicyError::Trap(format!("cannot set its fuel: {e}")))?;
    let fail = |e: wasmtime::Error| runtime_error(e, limits);

    let instance = linker
        .instantiate(&mut store, &policy.module)
        .map_err(|e| {
            let text = format!("{e:#}");
            if text.contains("unknown import") {
                PolicyError::Abi(format!(
                    "{}: only tollgate.log, tollgate.count_tokens and WASI preview 1 exist",
                    crate::text::one_line(&text)
                ))
            } else {
                fail(e)
            }
        })?;
    let none = || {
        Ok(Evaluation {
            output: Vec::new(),
            log: Vec::new(),
            fuel_used: 0,
        })
    };
    let output = match policy.style {
        Style::Command => {
            let Action::Evaluate(_) = action else {
                return none();
            };
            let start = instance
                .get_typed_func::<(), ()>(&mut store, "_start")
                .map_err(fail)?;
            match start.call(&mut store, ()) {
                Ok(()) => {}
                Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    Some(exit) if exit.0 == 0 => {}
                    _ => return Err(fail(e)),
                },
            }
            let out = stdout.contents();
            if out.len() > output_cap {
                return Err(PolicyError::OutputTooLarge(limits.output_kib));
            }
            out.to_vec()
        }
        Style::Reactor => {
            let (export, input) = match action {
                Action::Evaluate(input) => ("tollgate_evaluate", Some(*input)),
                Action::CheckConfig(input) => ("tollgate_check_config", Some(*input)),
                Action::Describe => ("tollgate_describe", None),
            };
            // An optional export the module lacks: nothing to run.
            if instance.get_func(&mut store, export).is_none() {
                return none();
            }
            if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
                init.call(&mut store, ()).map_err(fail)?;
            }
            if let Ok(version) =
                instance.get_typed_func::<(), i32>(&mut store, "tollgate_abi_version")
            {
                let version = version.call(&mut store, ()).map_err(fail)?;
                if version != ABI_VERSION {
                    return Err(PolicyError::Abi(format!(
                        "speaks ABI version {version}, this tollgate speaks {ABI_VERSION}: rebuild the policy with a matching SDK or upgrade tollgate"
                    )));
                }
            }
            let memory = instance
                .get_memory(&mut store, "memory")
                .ok_or_else(|| PolicyError::Abi("exports no memory".into()))?;
            let packed = match input {
                Some(input) => {
                    let alloc = instance
                        .get_typed_func::<i32, i32>(&mut store, "tollgate_alloc")
                        .map_err(fail)?;
                    let call = instance
                        .get_typed_func::<(i32, i32), i64>(&mut store, export)
                        .map_err(fail)?;
                    let len = i32::try_from(input.len())
                        .map_err(|_| PolicyError::Abi("input document larger than 2 GiB".into()))?;
                    let ptr = alloc.call(&mut store, len).map_err(fail)?;
                    memory
                        .write(&mut store, ptr as u32 as usize, input)
                        .map_err(|_| {
                            PolicyError::Abi(format!(
                                "tollgate_alloc({len}) returned {ptr}, outside memory"
                            ))
                        })?;
                    call.call(&mut store, (ptr, len)).map_err(fail)?
                }
                None => instance
                    .get_typed_func::<(), i64>(&mut store, export)
                    .map_err(fail)?
                    .call(&mut store, ())
                    .map_err(fail)?,
            };
            let (out_ptr, out_len) = (
                (packed as u64 >> 32) as usize,
                (packed as u64 & 0xffff_ffff) as usize,
            );
            if out_len > output_cap {
                return Err(PolicyError::OutputTooLarge(limits.output_kib));
            }
            memory
                .data(&store)
                .get(out_ptr..out_ptr + out_len)
                .ok_or_else(|| {
                    PolicyError::BadOutput(format!("points outside memory ({out_ptr}+{out_len})"))
                })?
                .to_vec()
        }
    };
    let mut log = store.data_mut().take_log();
    for pipe in [&stderr]
        .into_iter()
        .chain((policy.style == Style::Reactor).then_some(&stdout))
    {
        let text = String::from_utf8_lossy(&pipe.contents()).into_owned();
        log.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .take(LOG_LINES)
                .map(str::to_owned),
        );
    }
    let fuel_used = fuel - store.get_fuel().unwrap_or(0);
    Ok(Evaluation {
        output,
        log,
        fuel_used,
    })
}

/// Which limit a [`SandboxLimit`] is, as the policy's error.
pub fn limit_error(limit: SandboxLimit, limits: &Limits) -> PolicyError {
    match limit {
        SandboxLimit::Memory => PolicyError::Memory(limits.memory_mib),
        SandboxLimit::Table => PolicyError::OverLimit(format!(
            "tried to grow a table past {MAX_TABLE_ELEMENTS} elements"
        )),
        SandboxLimit::Deadline => PolicyError::Timeout {
            ms: limits.time_ms,
            spent: Spent::Wall,
        },
    }
}
