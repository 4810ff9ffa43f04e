//! tollgate.zig: write tollgate policies in Zig, with the standard library's JSON.
//!
//! A policy is one function from the input document (the Claude Code event plus live usage
//! figures, parsed into a `std.json.Value`) to an `Output`. `exportPolicy` turns it into the
//! module's exports (sdk/ABI.md, style A):
//!
//!     const std = @import("std");
//!     const tollgate = @import("tollgate");
//!
//!     fn evaluate(gpa: std.mem.Allocator, input: std.json.Value) !tollgate.Output {
//!         _ = gpa;
//!         const cost = tollgate.number(tollgate.path(input, "usage.block.cost_usd"), 0);
//!         if (cost > 5) return tollgate.Output.warn("this 5-hour block cost over $5");
//!         return tollgate.Output.allow();
//!     }
//!
//!     comptime {
//!         tollgate.exportPolicy(evaluate);
//!     }
//!
//! Build with `zig build-exe -target wasm32-freestanding -fno-entry -rdynamic -O ReleaseSmall
//! --dep tollgate -Mroot=policy.zig -Mtollgate=tollgate.zig` (zig from PyPI: `pip install
//! ziglang`, then `python3 -m ziglang build-exe …`).
//!
//! Reading is lenient, as the ABI asks: `path`, `number`, `string` and `get` give null or the
//! fallback for a missing field or one of another type. Memory comes from an arena that is never
//! freed: every evaluation runs in a fresh instance that the host drops afterwards.

const std = @import("std");

/// The ABI version this SDK speaks.
pub const abi_version: i32 = 1;

/// The output document. Only `decision` is required; `model` for a downgrade. Set `@"error"`
/// (with `Output.failure`) to report an error instead: the host applies the policy's on_error.
pub const Output = struct {
    decision: ?[]const u8 = null,
    reason: ?[]const u8 = null,
    model: ?[]const u8 = null,
    message: ?[]const u8 = null,
    context: ?[]const u8 = null,
    state: ?std.json.Value = null,
    @"error": ?[]const u8 = null,

    /// Let it proceed, say nothing.
    pub fn allow() Output {
        return .{ .decision = "allow" };
    }
    /// Let it proceed, with a warning.
    pub fn warn(reason: []const u8) Output {
        return .{ .decision = "warn", .reason = reason };
    }
    /// Ask the user.
    pub fn ask(reason: []const u8) Output {
        return .{ .decision = "ask", .reason = reason };
    }
    /// Block it.
    pub fn deny(reason: []const u8) Output {
        return .{ .decision = "deny", .reason = reason };
    }
    /// Send the subagent to `model` (`sonnet`, `haiku` or a model id).
    pub fn downgrade(model: []const u8, reason: []const u8) Output {
        return .{ .decision = "downgrade", .model = model, .reason = reason };
    }
    /// Report an error instead of a decision.
    pub fn failure(message: []const u8) Output {
        return .{ .@"error" = message };
    }
};

/// Member `key` of `value` if it is an object that has it.
pub fn get(value: ?std.json.Value, key: []const u8) ?std.json.Value {
    const v = value orelse return null;
    return switch (v) {
        .object => |object| object.get(key),
        else => null,
    };
}

/// A nested member by a dotted path: `path(input, "usage.block.cost_usd")`. Keys containing
/// a dot need `get`.
pub fn path(value: ?std.json.Value, dotted: []const u8) ?std.json.Value {
    var current = value;
    var keys = std.mem.splitScalar(u8, dotted, '.');
    while (keys.next()) |key| current = get(current, key);
    return current;
}

/// A number as f64 (integers, floats and integers too large for i64); `fallback` otherwise.
pub fn number(value: ?std.json.Value, fallback: f64) f64 {
    const v = value orelse return fallback;
    return switch (v) {
        .integer => |i| @floatFromInt(i),
        .float => |f| f,
        .number_string => |s| std.fmt.parseFloat(f64, s) catch fallback,
        else => fallback,
    };
}

/// A string (unescaped UTF-8), or null if the value is not a string.
pub fn string(value: ?std.json.Value) ?[]const u8 {
    const v = value orelse return null;
    return switch (v) {
        .string => |s| s,
        else => null,
    };
}

/// Whether the value is the string `text`.
pub fn stringIs(value: ?std.json.Value, text: []const u8) bool {
    const s = string(value) orelse return false;
    return std.mem.eql(u8, s, text);
}

extern "tollgate" fn log(level: i32, ptr: [*]const u8, len: usize) void;

/// Log levels of `logLine`.
pub const Level = enum(i32) { err = 0, warn = 1, info = 2, debug = 3 };

/// Writes a line to the policy log (shown with TOLLGATE_LOG=debug).
pub fn logLine(level: Level, text: []const u8) void {
    log(@intFromEnum(level), text.ptr, text.len);
}

/// Exports `tollgate_describe`, answering `json`: a description whose `config_schema` declares
/// the policy's config keys. With `"additionalProperties": false`, `tollgate policy list` and
/// `tollgate doctor` report a key it does not declare (naming the closest one) and a value of
/// another JSON type than declared. Optional; call it once, in a `comptime` block.
pub fn exportDescription(comptime json: []const u8) void {
    const Description = struct {
        fn describe() callconv(.c) i64 {
            return (@as(i64, @intCast(@intFromPtr(json.ptr))) << 32) | @as(i64, @intCast(json.len));
        }
    };
    @export(&Description.describe, .{ .name = "tollgate_describe" });
}

/// The signature of a policy: the arena allocator and the parsed input document.
pub const Evaluate = fn (std.mem.Allocator, std.json.Value) anyerror!Output;

/// Exports `evaluate` as the module's ABI functions. Call it once, in a `comptime` block.
pub fn exportPolicy(comptime evaluate: Evaluate) void {
    const Exports = struct {
        var arena = std.heap.ArenaAllocator.init(std.heap.wasm_allocator);

        fn alloc(len: i32) callconv(.c) i32 {
            const bytes = arena.allocator().alloc(u8, @intCast(len)) catch return 0;
            return @intCast(@intFromPtr(bytes.ptr));
        }

        fn abiVersion() callconv(.c) i32 {
            return abi_version;
        }

        fn run(gpa: std.mem.Allocator, input: []const u8) Output {
            const document = std.json.parseFromSliceLeaky(std.json.Value, gpa, input, .{}) catch
                return Output.failure("cannot read the input document: not JSON");
            if (document != .object) return Output.failure("cannot read the input document: not a JSON object");
            const output = evaluate(gpa, document) catch |e| return Output.failure(@errorName(e));
            if (output.@"error" == null) {
                const decision = output.decision orelse return Output.failure("the policy returned no decision");
                if (std.mem.eql(u8, decision, "downgrade") and output.model == null)
                    return Output.failure("a downgrade needs a model");
            }
            return output;
        }

        fn evaluateExport(ptr: i32, len: i32) callconv(.c) i64 {
            const gpa = arena.allocator();
            const input = @as([*]const u8, @ptrFromInt(@as(usize, @intCast(ptr))))[0..@intCast(len)];
            const json = std.json.Stringify.valueAlloc(gpa, run(gpa, input), .{ .emit_null_optional_fields = false }) catch
                @panic("out of memory");
            return (@as(i64, @intCast(@intFromPtr(json.ptr))) << 32) | @as(i64, @intCast(json.len));
        }
    };
    @export(&Exports.alloc, .{ .name = "tollgate_alloc" });
    @export(&Exports.abiVersion, .{ .name = "tollgate_abi_version" });
    @export(&Exports.evaluateExport, .{ .name = "tollgate_evaluate" });
}
