// tollgate SDK for AssemblyScript: write a tollgate policy as one function.
//
// A policy is a function from the input document (the Claude Code event plus live usage
// figures, parsed by assemblyscript-json) to an Output. Register it with `policy(evaluate)` at
// the top level of your entry file and re-export the ABI functions (sdk/ABI.md, style A):
//
//   import { JSON } from "assemblyscript-json/assembly";
//   import { Output, policy, number, path } from "tollgate-sdk/assembly";
//   export { tollgate_alloc, tollgate_evaluate, tollgate_abi_version } from "tollgate-sdk/assembly";
//
//   policy((input: JSON.Obj): Output => {
//     if (number(path(input, "usage.block.cost_usd"), 0) > 5) return Output.warn("this block cost over $5");
//     return Output.allow();
//   });
//
// Build with asc (see build.sh): --runtime stub (no garbage collector: every evaluation runs
// in a fresh instance that the host drops) and --use abort=... (no `env` import: tollgate
// provides none; an abort traps, which the host reports as the policy's error).
//
// Reading is lenient, as the ABI asks: `get`, `path`, `number` and `str` give null or the
// fallback for a missing field or one of another type.

import { JSON } from "assemblyscript-json/assembly";

/** The ABI version this SDK speaks. */
const ABI_VERSION: i32 = 1;

/** The output document. Only `decision` is required; `model` for a downgrade. */
export class Output {
  decision: string | null = null;
  reason: string | null = null;
  model: string | null = null;
  message: string | null = null;
  context: string | null = null;
  /** JSON text stored for the next call (the input's `state`). */
  state: string | null = null;
  /** Set (with Output.failure) to report an error: the host applies the policy's on_error. */
  error: string | null = null;

  private static of(decision: string, reason: string | null): Output {
    const output = new Output();
    output.decision = decision;
    output.reason = reason;
    return output;
  }
  /** Let it proceed, say nothing. */
  static allow(): Output { return Output.of("allow", null); }
  /** Let it proceed, with a warning. */
  static warn(reason: string): Output { return Output.of("warn", reason); }
  /** Ask the user. */
  static ask(reason: string): Output { return Output.of("ask", reason); }
  /** Block it. */
  static deny(reason: string): Output { return Output.of("deny", reason); }
  /** Send the subagent to `model` (`sonnet`, `haiku` or a model id). */
  static downgrade(model: string, reason: string): Output {
    const output = Output.of("downgrade", reason);
    output.model = model;
    return output;
  }
  /** Report an error instead of a decision. */
  static failure(message: string): Output {
    const output = new Output();
    output.error = message;
    return output;
  }

  /** The output document as JSON text. */
  toJSON(): string {
    const error = this.error;
    if (error != null) return "{" + field("error", error) + "}";
    const decision = this.decision;
    if (decision == null) return "{" + field("error", "the policy returned no decision") + "}";
    if (decision == "downgrade" && this.model == null) {
      return "{" + field("error", "a downgrade needs a model") + "}";
    }
    let json = "{" + field("decision", decision);
    const texts: (string | null)[] = [this.reason, this.model, this.message, this.context];
    const names = ["reason", "model", "message", "context"];
    for (let i = 0; i < names.length; i++) {
      const text = texts[i];
      if (text != null) json += "," + field(names[i], text);
    }
    const state = this.state;
    if (state != null) json += ",\"state\":" + state;
    return json + "}";
  }
}

/** A JSON string literal: quotes, backslashes and control characters escaped. */
export function quote(text: string): string {
  let out = "\"";
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x22 || c == 0x5c || c < 0x20) {
      out += text.substring(start, i);
      if (c == 0x22) out += "\\\"";
      else if (c == 0x5c) out += "\\\\";
      else out += "\\u00" + (c < 0x10 ? "0" : "") + c.toString(16);
      start = i + 1;
    }
  }
  return out + text.substring(start) + "\"";
}

function field(name: string, text: string): string {
  return quote(name) + ":" + quote(text);
}

/** Member `key` of `value` if it is an object that has it. */
export function get(value: JSON.Value | null, key: string): JSON.Value | null {
  if (value == null || !value.isObj) return null;
  return (<JSON.Obj>value).get(key);
}

/** A nested member by a dotted path: path(input, "usage.block.cost_usd"). */
export function path(value: JSON.Value | null, dotted: string): JSON.Value | null {
  const keys = dotted.split(".");
  for (let i = 0; i < keys.length; i++) value = get(value, keys[i]);
  return value;
}

/** A number as f64 (integers beyond 2^53 round); `fallback` if the value is not a number. */
export function number(value: JSON.Value | null, fallback: f64): f64 {
  if (value == null) return fallback;
  if (value.isInteger) return <f64>(<JSON.Integer>value).valueOf();
  if (value.isNum) return (<JSON.Num>value).valueOf();
  return fallback;
}

/** A string, or null if the value is not a string. */
export function str(value: JSON.Value | null): string | null {
  if (value == null || !value.isString) return null;
  return (<JSON.Str>value).valueOf();
}

/** Whether the value is the string `text`. */
export function strIs(value: JSON.Value | null, text: string): bool {
  const s = str(value);
  return s != null && s == text;
}

// @ts-ignore: decorator
@external("tollgate", "log")
declare function hostLog(level: i32, ptr: usize, len: usize): void;

/** Log levels of `log`. */
export enum Level { Error = 0, Warn = 1, Info = 2, Debug = 3 }

/** Writes a line to the policy log (shown with TOLLGATE_LOG=debug). */
export function log(level: Level, text: string): void {
  const bytes = String.UTF8.encode(text);
  hostLog(level, changetype<usize>(bytes), bytes.byteLength);
}

/** A policy: the parsed input document to a decision. */
export type Evaluate = (input: JSON.Obj) => Output;

let registered: Evaluate | null = null;

/** Registers the policy; call it once, at the top level of the entry file. */
export function policy(evaluate: Evaluate): void {
  registered = evaluate;
}

let description: ArrayBuffer | null = null;

/**
 * Declares the policy's description, answered by the `tollgate_describe` export: JSON whose
 * `config_schema` declares its config keys. With `"additionalProperties": false`,
 * `tollgate policy list` and `tollgate doctor` report a key it does not declare (naming the
 * closest one) and a value of another JSON type than declared. Optional; call it once, at the
 * top level of the entry file, and re-export `tollgate_describe`.
 */
export function describe(json: string): void {
  description = String.UTF8.encode(json);
}

/** ABI export: the description `describe` declared, packed; empty when none. */
export function tollgate_describe(): i64 {
  const json = description;
  if (json == null) return 0;
  return (<i64>changetype<usize>(json) << 32) | <i64>json.byteLength;
}

/** ABI export: `len` writable bytes for the input. */
export function tollgate_alloc(len: i32): usize {
  return heap.alloc(<usize>len);
}

/** ABI export: the version this module speaks. */
export function tollgate_abi_version(): i32 {
  return ABI_VERSION;
}

/** ABI export: evaluates the input at ptr..ptr+len; returns (out_ptr << 32) | out_len. */
export function tollgate_evaluate(ptr: usize, len: i32): i64 {
  const bytes = new Uint8Array(len);
  memory.copy(bytes.dataStart, ptr, <usize>len);
  const evaluate = registered;
  let output: Output;
  if (evaluate == null) {
    output = Output.failure("no policy registered: call policy(evaluate) in the entry file");
  } else {
    const input = JSON.parse(bytes);
    output = input.isObj
      ? evaluate(<JSON.Obj>input)
      : Output.failure("cannot read the input document: not a JSON object");
  }
  const json = String.UTF8.encode(output.toJSON());
  return (<i64>changetype<usize>(json) << 32) | <i64>json.byteLength;
}

/** The `abort` asc calls on a failed assertion or a throw: a trap (build with --use abort=...). */
export function trap(message: string | null, file: string | null, line: u32, column: u32): void {
  unreachable();
}
