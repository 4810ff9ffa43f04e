//! The WASM side of the ABI: the functions behind the exports that
//! [`export_policy!`](crate::export_policy) generates, and the host imports.
//!
//! This is the only module with `unsafe` code: reading the input the host wrote into linear
//! memory, and calling the host's imports. Everything else in the SDK, and every policy, is
//! safe Rust.
#![allow(unsafe_code)]

/// The ABI version this SDK implements, returned by `tollgate_abi_version`.
pub const ABI_VERSION: i32 = 1;

/// Packs a pointer and a length into the `i64` that `tollgate_evaluate` and
/// `tollgate_describe` return: `(ptr << 32) | len`.
pub fn pack(ptr: u32, len: u32) -> i64 {
    ((u64::from(ptr) << 32) | u64::from(len)) as i64
}

/// Splits a packed `i64` back into `(ptr, len)`; the inverse of [`pack`].
pub fn unpack(packed: i64) -> (u32, u32) {
    let packed = packed as u64;
    ((packed >> 32) as u32, packed as u32)
}

/// A message level for [`log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Something failed.
    Error = 0,
    /// Something looks wrong.
    Warn = 1,
    /// Progress.
    Info = 2,
    /// Detail for debugging, shown with `TOLLGATE_LOG=debug`.
    Debug = 3,
}

/// Writes a message to the policy log (the host's `tollgate.log` import). A no-op outside
/// WASM, so that policies run unchanged in native tests.
pub fn log(level: Level, message: &str) {
    #[cfg(target_family = "wasm")]
    {
        // SAFETY: the pointer and length describe `message`, a live UTF-8 string the host
        // only reads during the call.
        unsafe {
            imports::log(
                level as i32,
                wasm32::addr(message.as_ptr()),
                message.len() as i32,
            )
        }
    }
    #[cfg(not(target_family = "wasm"))]
    let _ = (level, message);
}

/// Counts the tokens of `text` with the host's tokenizer (the `tollgate.count_tokens`
/// import: cl100k, an approximation of Claude's). `None` outside WASM or if the host could
/// not count. Importing it makes the host load the tokenizer (~100 ms per process): use it
/// only when an estimate will not do.
pub fn count_tokens(text: &str) -> Option<u32> {
    #[cfg(target_family = "wasm")]
    {
        // SAFETY: the pointer and length describe `text`, a live UTF-8 string the host only
        // reads during the call.
        let count =
            unsafe { imports::count_tokens(wasm32::addr(text.as_ptr()), text.len() as i32) };
        u32::try_from(count).ok()
    }
    #[cfg(not(target_family = "wasm"))]
    {
        let _ = text;
        None
    }
}

#[cfg(target_family = "wasm")]
mod imports {
    #[link(wasm_import_module = "tollgate")]
    unsafe extern "C" {
        /// `log(level, ptr, len)`.
        pub fn log(level: i32, ptr: i32, len: i32);
        /// `count_tokens(ptr, len) -> count`, `-1` when the text is not UTF-8.
        pub fn count_tokens(ptr: i32, len: i32) -> i32;
    }
}

/// The bodies of the generated exports. Not public API: use
/// [`export_policy!`](crate::export_policy).
#[cfg(target_family = "wasm")]
#[doc(hidden)]
pub mod wasm32 {
    use super::{ABI_VERSION, pack};
    use crate::{Describe, Input, IntoOutput, PolicyInfo, check_config_json, run_json};

    /// A linear-memory address as the `i32` the ABI uses (wasm32 addresses fit in 32 bits).
    pub(super) fn addr(ptr: *const u8) -> i32 {
        ptr as usize as u32 as i32
    }

    /// Hands `bytes` to the host as a packed pointer and length. The memory is leaked on
    /// purpose: the host reads it after the call, and the instance is dropped afterwards.
    fn leak(bytes: Vec<u8>) -> i64 {
        let bytes: &'static [u8] = bytes.leak();
        pack(addr(bytes.as_ptr()) as u32, bytes.len() as u32)
    }

    /// `tollgate_alloc`: `len` writable bytes for the input, leaked (see [`leak`]); 0 when
    /// `len` is negative.
    pub fn alloc(len: i32) -> i32 {
        match usize::try_from(len) {
            Ok(len) => addr(vec![0u8; len].leak().as_ptr()),
            Err(_) => 0,
        }
    }

    /// `tollgate_abi_version`.
    pub fn abi_version() -> i32 {
        ABI_VERSION
    }

    /// `tollgate_evaluate`: runs `evaluate` on the input at `ptr..ptr + len` and returns the
    /// packed output.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be initialised memory that nothing writes during the call, such
    /// as a buffer from [`alloc`] that the host filled. (A null `ptr` or a zero `len` is
    /// read as empty input.)
    pub unsafe fn evaluate<R: IntoOutput>(
        ptr: i32,
        len: i32,
        evaluate: impl FnOnce(Input) -> R,
    ) -> i64 {
        // SAFETY: the caller's guarantee, passed on.
        leak(run_json(unsafe { input(ptr, len) }, evaluate))
    }

    /// `tollgate_check_config`: runs `check` on the config check document at
    /// `ptr..ptr + len` and returns the packed [`ConfigCheck`](crate::ConfigCheck) document.
    ///
    /// # Safety
    ///
    /// As for [`evaluate`].
    pub unsafe fn check_config<E: core::fmt::Display>(
        ptr: i32,
        len: i32,
        check: impl FnOnce(&PolicyInfo) -> Result<(), E>,
    ) -> i64 {
        // SAFETY: the caller's guarantee, passed on.
        leak(check_config_json(unsafe { input(ptr, len) }, check))
    }

    /// The document the host wrote at `ptr..ptr + len` (empty for a null `ptr` or a zero
    /// `len`).
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be initialised memory that nothing writes while the slice lives.
    unsafe fn input<'a>(ptr: i32, len: i32) -> &'a [u8] {
        let len = len as u32 as usize;
        if ptr == 0 || len == 0 {
            &[]
        } else {
            // SAFETY: the caller guarantees that `ptr..ptr + len` is initialised and not
            // written while the slice lives; it is in linear memory, which is never
            // deallocated.
            unsafe { core::slice::from_raw_parts(ptr as u32 as usize as *const u8, len) }
        }
    }

    /// `tollgate_describe`: the packed JSON of `describe()`.
    pub fn describe(describe: impl FnOnce() -> Describe) -> i64 {
        leak(serde_json::to_vec(&describe()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::{pack, unpack};

    #[test]
    fn packing_round_trips() {
        assert_eq!(pack(0x10, 0x20), 0x0000_0010_0000_0020);
        assert_eq!(unpack(0x0000_0010_0000_0020), (0x10, 0x20));
        for (ptr, len) in [(0, 0), (1, u32::MAX), (u32::MAX, 1), (0x8000_0000, 65_536)] {
            assert_eq!(unpack(pack(ptr, len)), (ptr, len));
        }
        // A pointer above 2 GiB sets the sign bit; the host reads the bits, not the sign.
        assert!(pack(0x8000_0000, 0) < 0);
    }
}
