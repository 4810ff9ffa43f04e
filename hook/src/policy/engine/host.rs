//! The sandbox a policy runs in: its imports, its limits, and the two ABI call styles.

use wasmtime::{
    Caller, Extern, ExternType, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use super::{ABI_VERSION, Evaluation, Policy, PolicyError, func_sig, is_i32, runtime_error};
use crate::config::Limits;

/// Most policy log text kept per evaluation.
const LOG_CAP: usize = 16 * 1024;

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
}

/// The import module of WASI preview 1.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Per-store host state.
pub struct Host {
    limits: StoreLimits,
    /// Built only for modules that import WASI.
    wasi: Option<WasiP1Ctx>,
    log: Vec<String>,
    log_bytes: usize,
}

impl Host {
    fn push_log(&mut self, line: String) {
        if self.log_bytes < LOG_CAP {
            self.log_bytes += line.len();
            self.log.push(line);
        }
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

/// Whether a module imports a host call that may block: anything but `tollgate.log`.
pub fn may_block(module: &Module) -> bool {
    module
        .imports()
        .any(|i| (i.module(), i.name()) != ("tollgate", "log"))
}

/// The linker with the `tollgate` imports.
pub fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<Host>> {
    let mut linker = Linker::new(engine);
    linker.func_wrap(
        "tollgate",
        "log",
        |mut caller: Caller<'_, Host>, level: i32, ptr: i32, len: i32| {
            let text =
                read_guest(&mut caller, ptr, len).unwrap_or_else(|| "<invalid log pointer>".into());
            let level = match level {
                0 => "error",
                1 => "warn",
                2 => "info",
                _ => "debug",
            };
            caller.data_mut().push_log(format!("{level}: {text}"));
        },
    )?;
    linker.func_wrap(
        "tollgate",
        "count_tokens",
        |mut caller: Caller<'_, Host>, ptr: i32, len: i32| -> i32 {
            match read_guest(&mut caller, ptr, len) {
                Some(text) => crate::policy::tokens::count(&text).min(i32::MAX as usize) as i32,
                None => -1,
            }
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

fn read_guest(caller: &mut Caller<'_, Host>, ptr: i32, len: i32) -> Option<String> {
    let memory = guest_memory(caller)?;
    let data = memory.data(&caller);
    let start = ptr as u32 as usize;
    let bytes = data.get(start..start.checked_add(len as u32 as usize)?)?;
    String::from_utf8(bytes.to_vec()).ok()
}

/// Checks a module against the ABI: its imports and exports. Returns its call style.
pub fn check(module: &Module) -> Result<Style, PolicyError> {
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

/// Runs `action` on a fresh instance of `policy` within `limits`.
pub fn run(
    engine: &wasmtime::Engine,
    linker: &Linker<Host>,
    policy: &Policy,
    action: &Action<'_>,
    limits: &Limits,
) -> Result<Evaluation, PolicyError> {
    let output_cap = (limits.output_kib * 1024) as usize;
    let stdout = MemoryOutputPipe::new(output_cap + 1);
    let stderr = MemoryOutputPipe::new(LOG_CAP);
    let wasi = policy.wasi.then(|| {
        let mut wasi = WasiCtxBuilder::new();
        if let (Style::Command, Action::Evaluate(input)) = (policy.style, action) {
            wasi.stdin(MemoryInputPipe::new(input.to_vec()));
        }
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        wasi.build_p1()
    });
    let host = Host {
        limits: StoreLimitsBuilder::new()
            .memory_size((limits.memory_mib * 1024 * 1024) as usize)
            .instances(1)
            .memories(1)
            .tables(2)
            .trap_on_grow_failure(true)
            .build(),
        wasi,
        log: Vec::new(),
        log_bytes: 0,
    };
    let mut store = Store::new(engine, host);
    store.limiter(|host| &mut host.limits);
    store
        .set_fuel(limits.time_ms.max(1).saturating_mul(super::FUEL_PER_MS))
        .map_err(|e| PolicyError::Trap(format!("cannot set its fuel: {e}")))?;
    let fail = |e: wasmtime::Error| runtime_error(e, limits);

    let instance = linker
        .instantiate(&mut store, &policy.module)
        .map_err(|e| {
            let text = format!("{e:#}");
            if text.contains("memory minimum size") || text.contains("exceeds memory limits") {
                PolicyError::Memory(limits.memory_mib)
            } else if text.contains("unknown import") {
                PolicyError::Abi(format!(
                    "{text}: only tollgate.log, tollgate.count_tokens and WASI preview 1 exist"
                ))
            } else {
                fail(e)
            }
        })?;
    let output = match policy.style {
        Style::Command => {
            let Action::Evaluate(_) = action else {
                return Ok(Evaluation {
                    output: Vec::new(),
                    log: Vec::new(),
                });
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
            let packed = match action {
                Action::Evaluate(input) => {
                    let alloc = instance
                        .get_typed_func::<i32, i32>(&mut store, "tollgate_alloc")
                        .map_err(fail)?;
                    let evaluate = instance
                        .get_typed_func::<(i32, i32), i64>(&mut store, "tollgate_evaluate")
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
                    evaluate.call(&mut store, (ptr, len)).map_err(fail)?
                }
                Action::Describe => {
                    match instance.get_typed_func::<(), i64>(&mut store, "tollgate_describe") {
                        Ok(describe) => describe.call(&mut store, ()).map_err(fail)?,
                        Err(_) => {
                            return Ok(Evaluation {
                                output: Vec::new(),
                                log: Vec::new(),
                            });
                        }
                    }
                }
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
    let mut log = std::mem::take(&mut store.data_mut().log);
    for pipe in [&stderr]
        .into_iter()
        .chain((policy.style == Style::Reactor).then_some(&stdout))
    {
        let text = String::from_utf8_lossy(&pipe.contents()).into_owned();
        log.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_owned),
        );
    }
    Ok(Evaluation { output, log })
}
