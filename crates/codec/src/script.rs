//! JavaScript codec plug-ins (编解码插件) the user uploads, in the Huawei / China Telecom plug-in
//! convention: `decode(bytes)` turns a device's message (an array of byte values 0–255) into
//! `{msgType: "deviceReq", hasMore, data: [{serviceId, serviceData, eventTime}]}` or
//! `{msgType: "deviceRsp", mid, errcode, body}`; `encode(message)` turns the platform's
//! `{msgType: "cloudReq", serviceId, cmd, paras, hasMore, mid}` or `{msgType: "cloudRsp",
//! request, errcode, hasMore}` into an array of byte values.
//!
//! Plug-ins run on QuickJS (rquickjs), a fresh runtime for every call so that no call sees
//! another's state, with a memory cap, a stack cap and a work budget (counted in the engine's
//! steps and the elements built-in functions go over, not read from a clock, so a result never
//! depends on the machine's speed). The global object has the language and JSON, and nothing
//! that reaches out: no modules, files, network, timers, `Date` or `Math.random`; no regular
//! expressions either, because the engine cannot interrupt a backtracking match.
//! `docs/decisions.md` ("Codecs") explains the choice of engine and the limits' values.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use rquickjs::context::intrinsic::{Eval, Json, MapSet, Promise, TypedArrays};
use rquickjs::{Context, Ctx, Function, Runtime};
use serde_json::{json, Value};

use crate::model::ProductModel;
use crate::{CodecError, Command, CommandResponse, DecodedUplink, ServiceData};

/// Why a plug-in failed; tests and users tell failures apart by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ScriptFailure {
    /// Refused at upload: not JavaScript, too large, throws while loading, or lacks `decode`
    /// or `encode`.
    Invalid,
    /// The script threw an exception.
    Thrown,
    /// It used up its work budget (an endless loop, say).
    OutOfWork,
    OutOfMemory,
    /// Its calls nested deeper than the stack allows.
    StackOverflow,
    /// It returned something that is not the convention's message.
    BadResult,
}

impl fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Invalid => "refused",
            Self::Thrown => "threw",
            Self::OutOfWork => "ran out of its work budget",
            Self::OutOfMemory => "ran out of memory",
            Self::StackOverflow => "overflowed its stack",
            Self::BadResult => "bad result",
        })
    }
}

/// The bounds of a plug-in and of each of its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptLimits {
    /// The largest script accepted (the real platforms' 1 MB).
    pub source_bytes: usize,
    /// All the memory of one call's runtime, the script's code included.
    pub memory_bytes: usize,
    pub stack_bytes: usize,
    /// The work a call may do (loading the script included): one unit is a jump or call of
    /// the script, or an element that a built-in function of arrays or strings goes over.
    pub work: u64,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        Self {
            source_bytes: 1 << 20,
            memory_bytes: 16 << 20,
            stack_bytes: 256 << 10,
            work: 20_000_000,
        }
    }
}

/// An uploaded plug-in, accepted (it loads and has both functions), with the model it speaks.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptPlugin {
    source: String,
    model: ProductModel,
    limits: ScriptLimits,
}

fn failure(kind: ScriptFailure, reason: impl Into<String>) -> CodecError {
    CodecError::Script {
        kind,
        reason: reason.into(),
    }
}

fn bad_result(reason: impl Into<String>) -> CodecError {
    failure(ScriptFailure::BadResult, reason)
}

/// Run before every script: takes away what reads the clock or blocks (`Math.random` is seeded
/// from the clock), and makes the built-in functions of arrays, strings and typed arrays charge
/// the work budget for the elements they go over. QuickJS counts a call to a built-in as one
/// step however long it runs, and an array's `length` can be far larger than its memory
/// (`a.length = 4e9; a.indexOf(1)` goes on for minutes), so without the charge one step could
/// run unbounded. `flat` and `flatMap` go away: they walk nested arrays nobody charges (and the
/// plug-in language is ECMAScript 5.1, which has neither). The charging function is given to the
/// prelude alone, never to the script.
const PRELUDE: &str = r#"(function (charge) {
    delete Math.random;
    delete globalThis.Atomics;
    delete globalThis.SharedArrayBuffer;
    delete Array.prototype.flat;
    delete Array.prototype.flatMap;
    var apply = Reflect.apply, describe = Object.getOwnPropertyDescriptor;
    function size(value) {
        if (typeof value === "string") return value.length;
        if (value === null || (typeof value !== "object" && typeof value !== "function")) return 0;
        var length = +value.length;
        return length > 0 ? length : 0;
    }
    function charged(original) {
        return function () {
            var work = 1 + size(this);
            for (var i = 0; i < arguments.length; i++) work += size(arguments[i]);
            charge(work);
            return apply(original, this, arguments);
        };
    }
    [Array.prototype, String.prototype, Object.getPrototypeOf(Uint8Array.prototype)]
        .forEach(function (prototype) {
            Object.getOwnPropertyNames(prototype).forEach(function (name) {
                var property = describe(prototype, name);
                if (name === "constructor" || typeof property.value !== "function") return;
                property.value = charged(property.value);
                Object.defineProperty(prototype, name, property);
            });
        });
})"#;

/// QuickJS calls the interrupt handler once every this many jumps and calls.
const STEPS_PER_POLL: u64 = 10_000;

impl ScriptPlugin {
    /// Accepts a plug-in with the default limits, or refuses it with the reason.
    pub fn load(source: &str, model: ProductModel) -> Result<Self, CodecError> {
        Self::load_with_limits(source, model, ScriptLimits::default())
    }

    pub fn load_with_limits(
        source: &str,
        model: ProductModel,
        limits: ScriptLimits,
    ) -> Result<Self, CodecError> {
        if source.len() > limits.source_bytes {
            return Err(failure(
                ScriptFailure::Invalid,
                format!(
                    "{} bytes is larger than {}",
                    source.len(),
                    limits.source_bytes
                ),
            ));
        }
        let plugin = Self {
            source: source.into(),
            model,
            limits,
        };
        plugin.run(None)?;
        Ok(plugin)
    }

    pub fn model(&self) -> &ProductModel {
        &self.model
    }

    /// Runs `decode` on a device's message and checks what it says against the model; a
    /// `deviceRsp` must answer one of the `pending` commands.
    pub fn decode_uplink(
        &self,
        bytes: &[u8],
        pending: &[Command],
    ) -> Result<DecodedUplink, CodecError> {
        let message = self.run(Some(("decode", json!(bytes))))?;
        match message.get("msgType").and_then(Value::as_str) {
            Some("deviceReq") => self.report(&message),
            Some("deviceRsp") => self
                .response(&message, pending)
                .map(DecodedUplink::Response),
            _ => Err(bad_result(
                "decode must return msgType \"deviceReq\" or \"deviceRsp\"",
            )),
        }
    }

    /// Checks a command against the model, then runs `encode` on its `cloudReq`.
    pub fn encode_command(&self, command: &Command) -> Result<Vec<u8>, CodecError> {
        self.model
            .check_command(&command.service_id, &command.command, &command.params)?;
        self.encode(json!({
            "msgType": "cloudReq",
            "serviceId": command.service_id,
            "cmd": command.command,
            "paras": command.params,
            "hasMore": 0,
            "mid": command.id,
        }))
    }

    /// Runs `encode` on the platform's acknowledgement (`cloudRsp`) of a device's message.
    pub fn encode_acknowledgement(
        &self,
        request: &[u8],
        errcode: i64,
        has_more: bool,
    ) -> Result<Vec<u8>, CodecError> {
        self.encode(json!({
            "msgType": "cloudRsp",
            "request": request,
            "errcode": errcode,
            "hasMore": u8::from(has_more),
        }))
    }

    fn encode(&self, message: Value) -> Result<Vec<u8>, CodecError> {
        let result = self.run(Some(("encode", message)))?;
        let values = result
            .as_array()
            .ok_or_else(|| bad_result("encode must return an array of byte values"))?;
        values
            .iter()
            .map(|v| {
                // Java plug-ins' bytes are signed: -128..-1 are 128..255.
                v.as_i64()
                    .filter(|n| (-128..=255).contains(n))
                    .map(|n| n as u8)
                    .ok_or_else(|| bad_result(format!("{v} is not a byte value")))
            })
            .collect()
    }

    fn report(&self, message: &Value) -> Result<DecodedUplink, CodecError> {
        let items = message
            .get("data")
            .and_then(Value::as_array)
            .filter(|d| !d.is_empty())
            .ok_or_else(|| bad_result("a deviceReq needs a non-empty data list"))?;
        let mut services = Vec::new();
        for item in items {
            let service_id = item
                .get("serviceId")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_result("each data item needs a serviceId"))?;
            let data = item.get("serviceData").cloned().unwrap_or(json!({}));
            self.model.check_report(service_id, &data)?;
            let event_time = match item.get("eventTime") {
                None | Some(Value::Null) => None,
                Some(Value::String(time)) => Some(time.clone()),
                Some(other) => return Err(bad_result(format!("eventTime {other} is not text"))),
            };
            services.push(ServiceData {
                service_id: service_id.into(),
                data,
                event_time,
            });
        }
        Ok(DecodedUplink::Report {
            has_more: flag(message.get("hasMore"))?,
            services,
        })
    }

    fn response(
        &self,
        message: &Value,
        pending: &[Command],
    ) -> Result<CommandResponse, CodecError> {
        let mid = message
            .get("mid")
            .and_then(Value::as_u64)
            .and_then(|m| u16::try_from(m).ok())
            .ok_or_else(|| bad_result("a deviceRsp needs a mid, 0 to 65535"))?;
        let errcode = match message.get("errcode") {
            None | Some(Value::Null) => 0,
            Some(code) => code
                .as_i64()
                .ok_or_else(|| bad_result(format!("errcode {code} is not an integer")))?,
        };
        let command = pending
            .iter()
            .find(|c| c.id == mid)
            .ok_or(CodecError::UnmatchedResponse(mid))?;
        let result = message.get("body").cloned().unwrap_or(json!({}));
        // A failed command's body is whatever the device says about the failure.
        if errcode == 0 {
            self.model
                .check_response(&command.service_id, &command.command, &result)?;
        }
        Ok(CommandResponse {
            id: mid,
            service_id: command.service_id.clone(),
            command: command.command.clone(),
            errcode: Some(errcode),
            result,
        })
    }

    /// Loads the script in a fresh, bounded runtime, then calls `function` with `argument`
    /// (given as JSON, returned as JSON); with no call, checks that both functions exist.
    fn run(&self, call: Option<(&str, Value)>) -> Result<Value, CodecError> {
        let work = Rc::new(Cell::new(0u64));
        let budget = self.limits.work;
        let runtime =
            Runtime::new().map_err(|e| failure(ScriptFailure::OutOfMemory, e.to_string()))?;
        runtime.set_memory_limit(self.limits.memory_bytes);
        runtime.set_max_stack_size(self.limits.stack_bytes);
        let counter = work.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            counter.set(counter.get().saturating_add(STEPS_PER_POLL));
            counter.get() > budget
        })));
        let context = Context::custom::<(Eval, Json, MapSet, TypedArrays, Promise)>(&runtime)
            .map_err(|e| failure(ScriptFailure::OutOfMemory, e.to_string()))?;
        let out_of_work = || work.get() > budget;
        context.with(|ctx| {
            if let Err(error) = self.evaluate(&ctx, &work) {
                let (kind, reason) = classify(&ctx, error, out_of_work());
                let kind = match kind {
                    ScriptFailure::Thrown | ScriptFailure::BadResult => ScriptFailure::Invalid,
                    limit => limit,
                };
                return Err(failure(kind, format!("loading the script: {reason}")));
            }
            let globals = ctx.globals();
            let functions = ["decode", "encode"].map(|name| {
                globals
                    .get::<_, Function>(name)
                    .map_err(|_| failure(ScriptFailure::Invalid, format!("no function {name}")))
            });
            let [decode, encode] = functions;
            let (decode, encode) = (decode?, encode?);
            let Some((name, argument)) = call else {
                return Ok(Value::Null);
            };
            let function = if name == "decode" { decode } else { encode };
            let result = call_json(&ctx, &function, &argument).map_err(|error| {
                let (kind, reason) = classify(&ctx, error, out_of_work());
                failure(kind, format!("{name}: {reason}"))
            })?;
            // A script that caught the budget's refusal still overran it.
            if out_of_work() {
                return Err(failure(
                    ScriptFailure::OutOfWork,
                    format!("{name}: interrupted"),
                ));
            }
            Ok(result)
        })
    }

    /// Runs the prelude, handing it the charging function, then the script.
    fn evaluate<'js>(&self, ctx: &Ctx<'js>, work: &Rc<Cell<u64>>) -> rquickjs::Result<()> {
        let (work, budget) = (work.clone(), self.limits.work);
        let charge = Function::new(ctx.clone(), move |units: f64| {
            // NaN and negative charges are the prelude's zero; Infinity saturates.
            let units = if units > 0.0 { units as u64 } else { 0 };
            work.set(work.get().saturating_add(units));
            if work.get() > budget {
                return Err(rquickjs::Error::new_from_js_message(
                    "work",
                    "budget",
                    "the work budget is used up",
                ));
            }
            Ok(())
        })?;
        let prelude: Function = ctx.eval(PRELUDE)?;
        prelude.call::<_, ()>((charge,))?;
        ctx.eval::<(), _>(self.source.as_str())
    }
}

/// A message's `hasMore`: 0 or 1 in the convention, or a boolean.
fn flag(value: Option<&Value>) -> Result<bool, CodecError> {
    match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(n) if n.as_u64() == Some(0) => Ok(false),
        Some(n) if n.as_u64() == Some(1) => Ok(true),
        Some(other) => Err(bad_result(format!("hasMore {other} is not 0 or 1"))),
    }
}

/// Calls a script function on a JSON argument and gives its result as JSON. A returned string
/// is read as JSON text, as the Java plug-ins return theirs.
fn call_json<'js>(
    ctx: &Ctx<'js>,
    function: &Function<'js>,
    argument: &Value,
) -> Result<Value, rquickjs::Error> {
    let argument = ctx.json_parse(argument.to_string())?;
    let result: rquickjs::Value = function.call((argument,))?;
    if result.is_promise() {
        return Err(rquickjs::Error::new_from_js_message(
            "promise",
            "value",
            "a plug-in must return its message, not a promise",
        ));
    }
    let text = match result.as_string() {
        Some(text) => text.to_string()?,
        None => match ctx.json_stringify(result)? {
            Some(text) => text.to_string()?,
            None => "null".into(),
        },
    };
    serde_json::from_str(&text).map_err(|e| {
        rquickjs::Error::new_from_js_message("string", "JSON", format!("not JSON ({e}): {text}"))
    })
}

/// Tells why a call failed, from the engine's error and the exception the script left.
fn classify(ctx: &Ctx<'_>, error: rquickjs::Error, out_of_work: bool) -> (ScriptFailure, String) {
    if out_of_work {
        return (ScriptFailure::OutOfWork, "interrupted".into());
    }
    let reason = match error {
        rquickjs::Error::Exception => describe(ctx.catch()),
        rquickjs::Error::Allocation => "out of memory".into(),
        rquickjs::Error::FromJs { .. } => return (ScriptFailure::BadResult, error.to_string()),
        other => other.to_string(),
    };
    // The engine's own errors, as QuickJS-ng words them.
    let kind = match reason.as_str() {
        "out of memory" | "InternalError: out of memory" => ScriptFailure::OutOfMemory,
        "RangeError: Maximum call stack size exceeded" | "InternalError: stack overflow" => {
            ScriptFailure::StackOverflow
        }
        _ => ScriptFailure::Thrown,
    };
    (kind, reason)
}

/// The text of a thrown value: an Error's name and message, or the value itself. An engine
/// out of memory throws null.
fn describe(exception: rquickjs::Value<'_>) -> String {
    if exception.is_null() {
        return "out of memory".into();
    }
    if let Some(object) = exception.as_object() {
        let text = |key: &str| object.get::<_, Option<String>>(key).ok().flatten();
        if let Some(message) = text("message") {
            let name = text("name").unwrap_or_else(|| "Error".into());
            return format!("{name}: {message}");
        }
    }
    exception
        .get::<rquickjs::Coerced<String>>()
        .map(|s| s.0)
        .unwrap_or_else(|_| "an exception that cannot be shown".into())
}
