//! A product's model as its Profile declares it, in the Huawei OceanConnect / China Telecom IoT
//! "servicetype-capability" form: services with typed properties, and commands with parameters
//! and responses. [`ProductModel::from_profile`] reads the service definitions from the profile's
//! `services` list (beside its `devices`, as the platform's exported profile archive holds one
//! `servicetype-capability.json` per service type) and the services each device offers from the
//! devices' `serviceTypeCapabilities`, and refuses anything ambiguous with the reason. The
//! `check_*` functions check JSON values against the fields (type, range, length, enumeration).

use serde::Deserialize;
use serde_json::Value;

use crate::CodecError;

/// A field's data type: the profile format's types, plus `long` (the newer product models'
/// 64-bit integer) and `varstring` (a string whose length travels with it in the compact binary
/// codec; a plain `string` there has the fixed length `maxLength`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Int,
    Long,
    Decimal,
    String,
    VarString,
    DateTime,
    JsonObject,
    Boolean,
    Binary,
}

impl DataType {
    fn parse(name: &str) -> Result<Self, CodecError> {
        Ok(match name {
            "int" => Self::Int,
            "long" => Self::Long,
            "decimal" => Self::Decimal,
            "string" => Self::String,
            "varstring" => Self::VarString,
            "DateTime" => Self::DateTime,
            "jsonObject" => Self::JsonObject,
            "boolean" => Self::Boolean,
            "binary" => Self::Binary,
            other => {
                return Err(model_error(format!(
                    "unknown data type \"{other}\" (int, long, decimal, string, varstring, \
                     DateTime, jsonObject, boolean or binary)"
                )))
            }
        })
    }

    /// The type's own limits on values: what its encoding can carry.
    fn widest(self) -> Limits {
        match self {
            Self::Int => Limits::Integer {
                min: i32::MIN.into(),
                max: i32::MAX.into(),
            },
            Self::Long => Limits::Integer {
                min: i64::MIN,
                max: i64::MAX,
            },
            Self::Decimal => Limits::Decimal {
                min: f64::MIN,
                max: f64::MAX,
            },
            Self::String | Self::VarString | Self::JsonObject | Self::Binary => {
                Limits::Length { max: MAX_LENGTH }
            }
            Self::DateTime | Self::Boolean => Limits::None,
        }
    }
}

/// The longest string, JSON text or binary value: what a two-byte length can say.
pub const MAX_LENGTH: usize = u16::MAX as usize;

/// What values a field takes, from its type and its `min`, `max` and `maxLength`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limits {
    Integer {
        min: i64,
        max: i64,
    },
    Decimal {
        min: f64,
        max: f64,
    },
    /// Bytes of UTF-8 text or binary data.
    Length {
        max: usize,
    },
    None,
}

/// A property of a service, or a parameter of a command or response.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub data_type: DataType,
    pub required: bool,
    pub limits: Limits,
    pub step: Option<f64>,
    pub unit: Option<String>,
    /// The only values allowed, when the field is an enumeration.
    pub enum_list: Option<Vec<Value>>,
    /// Access of a property: letters of `R` (read), `W` (write), `E` (event, reported).
    pub method: Option<String>,
}

/// A command the platform sends to a device, and the responses the device gives.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandDef {
    pub name: String,
    pub paras: Vec<Field>,
    pub responses: Vec<ResponseDef>,
    /// The command's number in the compact binary codec.
    pub compact_id: Option<u16>,
}

impl CommandDef {
    /// The parameters of the device's answer: its (first) response's, or none.
    pub fn response_paras(&self) -> &[Field] {
        self.responses.first().map_or(&[], |r| r.paras.as_slice())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResponseDef {
    pub name: String,
    pub paras: Vec<Field>,
}

/// A service type's definition (one `servicetype-capability.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceType {
    pub service_type: String,
    pub description: Option<String>,
    pub properties: Vec<Field>,
    pub commands: Vec<CommandDef>,
    /// The service's number in the compact binary codec (its data reports carry it).
    pub compact_id: Option<u16>,
}

impl ServiceType {
    pub fn command(&self, name: &str) -> Option<&CommandDef> {
        self.commands.iter().find(|c| c.name == name)
    }
}

/// A service a device offers: an entry of `serviceTypeCapabilities` with its type's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: String,
    pub option: String,
    pub definition: ServiceType,
}

/// A product's services, checked: ids unique, each one's type defined.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductModel {
    pub services: Vec<Service>,
}

// The profile's JSON as written. Unknown keys (description texts, `omCapability`, …) are
// ignored: the platform keeps the whole profile; the model only needs these.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProfile {
    #[serde(default)]
    devices: Vec<RawDevice>,
    #[serde(default)]
    services: Vec<RawServiceType>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDevice {
    #[serde(default)]
    service_type_capabilities: Vec<RawCapability>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCapability {
    service_id: String,
    service_type: String,
    #[serde(default)]
    option: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawServiceType {
    service_type: String,
    description: Option<String>,
    #[serde(default)]
    properties: Vec<RawField>,
    #[serde(default)]
    commands: Vec<RawCommand>,
    compact_id: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCommand {
    command_name: String,
    #[serde(default)]
    paras: Vec<RawField>,
    #[serde(default)]
    responses: Vec<RawResponse>,
    compact_id: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResponse {
    response_name: String,
    #[serde(default)]
    paras: Vec<RawField>,
}

// Numbers in profiles are often written as strings ("min": "0"), and absent ones as null.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawField {
    property_name: Option<String>,
    para_name: Option<String>,
    data_type: String,
    #[serde(default)]
    required: bool,
    min: Option<Value>,
    max: Option<Value>,
    step: Option<Value>,
    max_length: Option<Value>,
    unit: Option<String>,
    enum_list: Option<Vec<Value>>,
    method: Option<String>,
}

fn model_error(reason: impl Into<String>) -> CodecError {
    CodecError::Model(reason.into())
}

impl ProductModel {
    /// Reads a product's model from its profile document. A profile without services gives an
    /// empty model.
    pub fn from_profile(profile: &Value) -> Result<Self, CodecError> {
        let raw: RawProfile = serde_json::from_value(profile.clone())
            .map_err(|e| model_error(format!("profile: {e}")))?;
        let mut types = Vec::new();
        for raw_type in raw.services {
            let definition = service_type(raw_type)?;
            if types
                .iter()
                .any(|t: &ServiceType| t.service_type == definition.service_type)
            {
                return Err(model_error(format!(
                    "service type {} is defined twice",
                    definition.service_type
                )));
            }
            types.push(definition);
        }
        let mut services: Vec<Service> = Vec::new();
        let capabilities = raw
            .devices
            .into_iter()
            .flat_map(|d| d.service_type_capabilities);
        for capability in capabilities {
            if services.iter().any(|s| s.id == capability.service_id) {
                return Err(model_error(format!(
                    "service {} is listed twice",
                    capability.service_id
                )));
            }
            let definition = types
                .iter()
                .find(|t| t.service_type == capability.service_type)
                .ok_or_else(|| {
                    model_error(format!(
                        "service {} has type {}, which the profile's services do not define",
                        capability.service_id, capability.service_type
                    ))
                })?;
            services.push(Service {
                id: capability.service_id,
                option: capability.option.unwrap_or_else(|| "Optional".into()),
                definition: definition.clone(),
            });
        }
        Ok(Self { services })
    }

    pub fn service(&self, id: &str) -> Result<&Service, CodecError> {
        self.services
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| CodecError::UnknownService(id.into()))
    }

    pub fn command(&self, service_id: &str, name: &str) -> Result<&CommandDef, CodecError> {
        self.service(service_id)?
            .definition
            .command(name)
            .ok_or_else(|| CodecError::UnknownCommand {
                service: service_id.into(),
                command: name.into(),
            })
    }

    /// Checks a service's reported data against its properties.
    pub fn check_report(&self, service_id: &str, data: &Value) -> Result<(), CodecError> {
        let service = self.service(service_id)?;
        check_object(&service.definition.properties, data, service_id)
    }

    /// Checks a command's parameters against its definition.
    pub fn check_command(
        &self,
        service_id: &str,
        command: &str,
        params: &Value,
    ) -> Result<(), CodecError> {
        let def = self.command(service_id, command)?;
        check_object(&def.paras, params, &format!("{service_id}.{command}"))
    }

    /// Checks a device's answer to a command against the command's response.
    pub fn check_response(
        &self,
        service_id: &str,
        command: &str,
        result: &Value,
    ) -> Result<(), CodecError> {
        let def = self.command(service_id, command)?;
        check_object(
            def.response_paras(),
            result,
            &format!("{service_id}.{command} response"),
        )
    }
}

fn service_type(raw: RawServiceType) -> Result<ServiceType, CodecError> {
    let context = format!("service type {}", raw.service_type);
    let properties = fields(raw.properties, &context)?;
    let mut commands: Vec<CommandDef> = Vec::new();
    for raw_command in raw.commands {
        let context = format!("{context}, command {}", raw_command.command_name);
        if commands.iter().any(|c| c.name == raw_command.command_name) {
            return Err(model_error(format!("{context} is defined twice")));
        }
        let mut responses: Vec<ResponseDef> = Vec::new();
        for raw_response in raw_command.responses {
            let context = format!("{context}, response {}", raw_response.response_name);
            if responses
                .iter()
                .any(|r| r.name == raw_response.response_name)
            {
                return Err(model_error(format!("{context} is defined twice")));
            }
            responses.push(ResponseDef {
                paras: fields(raw_response.paras, &context)?,
                name: raw_response.response_name,
            });
        }
        commands.push(CommandDef {
            paras: fields(raw_command.paras, &context)?,
            name: raw_command.command_name,
            responses,
            compact_id: raw_command.compact_id,
        });
    }
    Ok(ServiceType {
        service_type: raw.service_type,
        description: raw.description,
        properties,
        commands,
        compact_id: raw.compact_id,
    })
}

fn fields(raw: Vec<RawField>, context: &str) -> Result<Vec<Field>, CodecError> {
    let mut fields: Vec<Field> = Vec::new();
    for raw_field in raw {
        let field = field(raw_field, context)?;
        if fields.iter().any(|f| f.name == field.name) {
            return Err(model_error(format!(
                "{context}: field {} is defined twice",
                field.name
            )));
        }
        fields.push(field);
    }
    Ok(fields)
}

fn field(raw: RawField, context: &str) -> Result<Field, CodecError> {
    let name = match (raw.property_name, raw.para_name) {
        (Some(name), None) | (None, Some(name)) if !name.is_empty() => name,
        _ => {
            return Err(model_error(format!(
                "{context}: a field needs one non-empty propertyName or paraName"
            )))
        }
    };
    let context = format!("{context}, field {name}");
    let in_context = |e: CodecError| match e {
        CodecError::Model(reason) => model_error(format!("{context}: {reason}")),
        other => other,
    };
    let data_type = DataType::parse(&raw.data_type).map_err(in_context)?;
    let limits = limits(data_type, &raw.min, &raw.max, &raw.max_length).map_err(in_context)?;
    if data_type == DataType::String && raw.max_length.is_none() {
        return Err(model_error(format!(
            "{context}: a string needs maxLength (its fixed length in the compact codec)"
        )));
    }
    let step = optional_number(&raw.step)
        .map_err(in_context)?
        .filter(|s| *s != 0.0);
    if step.is_some_and(|s| s < 0.0) {
        return Err(model_error(format!("{context}: step is negative")));
    }
    if let Some(method) = &raw.method {
        if method.is_empty() || !method.chars().all(|c| "RWE".contains(c)) {
            return Err(model_error(format!(
                "{context}: method \"{method}\" is not made of R, W and E"
            )));
        }
    }
    let mut field = Field {
        name,
        data_type,
        required: raw.required,
        limits,
        step,
        unit: raw.unit,
        enum_list: None,
        method: raw.method,
    };
    if let Some(list) = raw.enum_list.filter(|l| !l.is_empty()) {
        for value in &list {
            check_value(&field, value)
                .map_err(|e| model_error(format!("{context}: enumList value {value}: {e}")))?;
        }
        field.enum_list = Some(list);
    }
    Ok(field)
}

fn limits(
    data_type: DataType,
    min: &Option<Value>,
    max: &Option<Value>,
    max_length: &Option<Value>,
) -> Result<Limits, CodecError> {
    match data_type.widest() {
        Limits::Integer { min: lo, max: hi } => {
            let min = optional_integer(min)?.unwrap_or(lo);
            let max = optional_integer(max)?.unwrap_or(hi);
            if min < lo || max > hi {
                return Err(model_error(format!(
                    "min and max must lie within {lo}..={hi}"
                )));
            }
            if min > max {
                return Err(model_error(format!("min {min} is above max {max}")));
            }
            Ok(Limits::Integer { min, max })
        }
        Limits::Decimal { min: lo, max: hi } => {
            let min = optional_number(min)?.unwrap_or(lo);
            let max = optional_number(max)?.unwrap_or(hi);
            if min > max {
                return Err(model_error(format!("min {min} is above max {max}")));
            }
            Ok(Limits::Decimal { min, max })
        }
        Limits::Length { max: longest } => {
            let max = optional_integer(max_length)?.map_or(Ok(longest), |n| {
                usize::try_from(n)
                    .ok()
                    .filter(|n| (1..=longest).contains(n))
                    .ok_or_else(|| model_error(format!("maxLength {n} is not in 1..={longest}")))
            })?;
            Ok(Limits::Length { max })
        }
        Limits::None => Ok(Limits::None),
    }
}

/// A number written as a JSON number or a string; null or "" mean absent.
fn optional_number(value: &Option<Value>) -> Result<Option<f64>, CodecError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| model_error(format!("\"{s}\" is not a number"))),
        Some(other) => Err(model_error(format!("{other} is not a number"))),
    }
}

fn optional_integer(value: &Option<Value>) -> Result<Option<i64>, CodecError> {
    match value {
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| model_error(format!("{n} is not an integer"))),
        Some(Value::String(s)) if !s.trim().is_empty() => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| model_error(format!("\"{s}\" is not an integer"))),
        other => optional_number(other).map(|_| None),
    }
}

fn value_error(field: &str, reason: impl Into<String>) -> CodecError {
    CodecError::Value {
        field: field.into(),
        reason: reason.into(),
    }
}

/// Checks a JSON object against fields: no unknown names, every required field present, every
/// value valid. `context` names the object in errors.
pub fn check_object(fields: &[Field], value: &Value, context: &str) -> Result<(), CodecError> {
    let object = value
        .as_object()
        .ok_or_else(|| value_error(context, format!("{value} is not a JSON object")))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !fields.iter().any(|f| &f.name == *k))
    {
        return Err(value_error(
            context,
            format!("{unknown} is not one of its fields"),
        ));
    }
    for field in fields {
        match object.get(&field.name) {
            Some(value) => check_value(field, value)?,
            None if field.required => {
                return Err(value_error(&field.name, "is required but missing"))
            }
            None => {}
        }
    }
    Ok(())
}

/// Checks one value against a field: its type, range, length and enumeration.
pub fn check_value(field: &Field, value: &Value) -> Result<(), CodecError> {
    let fail = |reason: String| Err(value_error(&field.name, reason));
    match (field.limits, field.data_type) {
        (Limits::Integer { min, max }, _) => match value.as_i64() {
            Some(n) if (min..=max).contains(&n) => {}
            Some(n) => return fail(format!("{n} is outside {min}..={max}")),
            None => return fail(format!("{value} is not an integer")),
        },
        (Limits::Decimal { min, max }, _) => match value.as_f64() {
            Some(n) if n >= min && n <= max => {}
            Some(n) => return fail(format!("{n} is outside {min}..={max}")),
            None => return fail(format!("{value} is not a number")),
        },
        (Limits::Length { max }, data_type) => {
            let length =
                encoded_length(data_type, value).map_err(|r| value_error(&field.name, r))?;
            if length > max {
                return fail(format!("{length} bytes is longer than {max}"));
            }
        }
        (Limits::None, DataType::Boolean) => {
            if !value.is_boolean() {
                return fail(format!("{value} is not true or false"));
            }
        }
        (Limits::None, _) => {
            let text = value.as_str().unwrap_or_default();
            if datetime_millis(text).is_none() {
                return fail(format!("{value} is not a time like \"20261207T061300Z\""));
            }
        }
    }
    match &field.enum_list {
        Some(list) if !list.iter().any(|v| same_value(v, value)) => fail(format!(
            "{value} is not one of {}",
            Value::Array(list.clone())
        )),
        _ => Ok(()),
    }
}

// 5 and 5.0 are the same decimal.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// How many bytes a text, JSON object or binary value takes: the length its limit counts.
fn encoded_length(data_type: DataType, value: &Value) -> Result<usize, String> {
    match (data_type, value) {
        (DataType::String, Value::String(s)) if s.contains('\0') => {
            Err("a fixed-length string cannot hold a NUL character".into())
        }
        (DataType::String | DataType::VarString, Value::String(s)) => Ok(s.len()),
        (DataType::JsonObject, Value::Object(_)) => Ok(value.to_string().len()),
        (DataType::Binary, Value::String(hex)) => hex_bytes(hex).map(|b| b.len()),
        (DataType::JsonObject, _) => Err(format!("{value} is not a JSON object")),
        (DataType::Binary, _) => Err(format!("{value} is not a hex string")),
        _ => Err(format!("{value} is not a string")),
    }
}

/// A binary value's JSON form: hex digits, two per byte.
pub fn hex_bytes(hex: &str) -> Result<Vec<u8>, String> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("\"{hex}\" is not hex digits, two per byte"));
    }
    Ok((0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("checked hex digits"))
        .collect())
}

pub fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A `DateTime` value ("yyyyMMddTHHmmssZ", UTC, as the profile format writes times) as
/// milliseconds since 1970, or None when it is not one.
pub fn datetime_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then(|| {
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        seconds * 1000
    })
}

/// The `DateTime` text of a time in milliseconds since 1970, or None outside years 0 to 9999.
pub fn datetime_text(millis: i64) -> Option<String> {
    if millis % 1000 != 0 {
        return None;
    }
    let seconds = millis / 1000;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    (0..=9999).contains(&year).then(|| {
        format!(
            "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Days since 1970-01-01 of a proleptic Gregorian date, counted in 400-year eras of 146097 days
// that start on 1 March (so that the leap day ends a year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_milliseconds() {
        assert_eq!(datetime_millis("19700101T000000Z"), Some(0));
        assert_eq!(datetime_millis("20000301T000001Z"), Some(951_868_801_000));
        assert_eq!(
            datetime_text(951_868_801_000).as_deref(),
            Some("20000301T000001Z")
        );
        assert_eq!(datetime_text(-1000).as_deref(), Some("19691231T235959Z"));
        assert_eq!(datetime_millis("21000229T000000Z"), None); // not a leap year
        assert_eq!(datetime_millis("20240230T000000Z"), None);
        assert_eq!(datetime_millis("2024013T0000000Z"), None);
        assert_eq!(datetime_millis("20240101T240000Z"), None);
        assert_eq!(datetime_millis("+0240101T000000Z"), None);
        assert_eq!(datetime_text(1), None);
    }

    #[test]
    fn hex_is_two_digits_a_byte() {
        assert_eq!(hex_bytes("00aB"), Ok(vec![0, 0xAB]));
        assert!(hex_bytes("abc").is_err());
        assert!(hex_bytes("é0").is_err());
        assert_eq!(hex_string(&[0, 0xAB]), "00AB");
    }
}
