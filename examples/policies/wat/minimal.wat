;; The smallest useful tollgate policy, by hand in WebAssembly text (sdk/ABI.md, style A).
;;
;; It ignores its input and always answers {"decision":"allow"}, so it cannot pass the
;; conformance suite (sdk/conformance): its own expectation is "allow" for every case
;; (hook/tests/conformance.rs, `wat`). It shows the whole contract in a dozen lines; tollgate
;; loads .wat text directly: `tollgate policy test minimal.wat`.
(module
  ;; The module's linear memory, exported as `memory`: one 64 KiB page to start with. The host
  ;; writes the input document into it and reads the output document from it.
  (memory (export "memory") 1)

  ;; The output document, 20 bytes of UTF-8 JSON at address 0.
  (data (i32.const 0) "{\"decision\":\"allow\"}")

  ;; tollgate_alloc(len) -> ptr: where the host may write the `len`-byte input. Page 0 holds
  ;; the output, so the input goes at 65536, after growing memory by enough pages for it
  ;; (ceil(len / 65536)). A failed grow returns -1, dropped here: the host's write then fails
  ;; and reports the policy's error.
  (func (export "tollgate_alloc") (param $len i32) (result i32)
    (drop (memory.grow
      (i32.shr_u (i32.add (local.get $len) (i32.const 65535)) (i32.const 16))))
    (i32.const 65536))

  ;; tollgate_evaluate(ptr, len) -> (out_ptr << 32) | out_len. The input is not read: the
  ;; output is always the 20 bytes at address 0, i.e. (0 << 32) | 20.
  (func (export "tollgate_evaluate") (param $ptr i32) (param $len i32) (result i64)
    (i64.const 20)))
