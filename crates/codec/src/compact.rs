//! CTWing's built-in compact binary codec (紧凑二进制): a message is a type byte, a two-byte
//! number naming the service (or command), on downlinks and their responses a two-byte task id,
//! a two-byte length of what follows, then the fields in the order the model declares them, each
//! in its type's fixed encoding. Every number is big-endian. `docs/decisions.md` ("Codecs") gives
//! the layout of each type and what was decided where the platform's documents are silent.

use serde_json::{Map, Number, Value};

use crate::model::{
    check_object, datetime_millis, datetime_text, hex_bytes, hex_string, DataType, Field, Limits,
    ProductModel,
};
use crate::{CodecError, Command, CommandResponse, DecodedUplink, ServiceData};

/// A device's data report: the service's properties.
pub const DATA_REPORT: u8 = 0x02;
/// The platform's command to a device: the command's parameters.
pub const COMMAND: u8 = 0x06;
/// A device's answer to a command: the parameters of the command's response.
pub const COMMAND_RESPONSE: u8 = 0x86;

/// A product model checked for the compact codec: every service with properties and every
/// command has a number, and no two share one.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactCodec {
    model: ProductModel,
}

/// What a number in a message names.
enum Numbered<'m> {
    Service(&'m crate::model::Service),
    Command(&'m crate::model::Service, &'m crate::model::CommandDef),
}

impl CompactCodec {
    pub fn new(model: ProductModel) -> Result<Self, CodecError> {
        let mut seen: Vec<(u16, String)> = Vec::new();
        for service in &model.services {
            let def = &service.definition;
            let mut numbered = Vec::new();
            if !def.properties.is_empty() {
                numbered.push((def.compact_id, service.id.clone()));
            }
            for command in &def.commands {
                numbered.push((
                    command.compact_id,
                    format!("{}.{}", service.id, command.name),
                ));
            }
            for (id, name) in numbered {
                let id = id.ok_or_else(|| {
                    CodecError::Model(format!("{name} needs a compactId for the compact codec"))
                })?;
                if let Some((_, other)) = seen.iter().find(|(n, _)| *n == id) {
                    return Err(CodecError::Model(format!(
                        "{name} and {other} share compactId {id}"
                    )));
                }
                seen.push((id, name));
            }
        }
        Ok(Self { model })
    }

    pub fn model(&self) -> &ProductModel {
        &self.model
    }

    fn numbered(&self, id: u16) -> Result<Numbered<'_>, CodecError> {
        for service in &self.model.services {
            let def = &service.definition;
            if def.compact_id == Some(id) && !def.properties.is_empty() {
                return Ok(Numbered::Service(service));
            }
            if let Some(command) = def.commands.iter().find(|c| c.compact_id == Some(id)) {
                return Ok(Numbered::Command(service, command));
            }
        }
        Err(malformed(format!("no service or command has number {id}")))
    }

    /// Decodes a data report or a command response; a response must answer one of `pending`.
    pub fn decode_uplink(
        &self,
        bytes: &[u8],
        pending: &[Command],
    ) -> Result<DecodedUplink, CodecError> {
        let mut reader = Reader::new(bytes);
        let kind = reader.u8()?;
        let id = reader.u16()?;
        match (kind, self.numbered(id)?) {
            (DATA_REPORT, Numbered::Service(service)) => {
                let data = reader.body(&service.definition.properties)?;
                Ok(DecodedUplink::Report {
                    has_more: false,
                    services: vec![ServiceData {
                        service_id: service.id.clone(),
                        data,
                        event_time: None,
                    }],
                })
            }
            (COMMAND_RESPONSE, Numbered::Command(service, command)) => {
                let task_id = reader.u16()?;
                let result = reader.body(command.response_paras())?;
                let response = CommandResponse {
                    id: task_id,
                    service_id: service.id.clone(),
                    command: command.name.clone(),
                    errcode: None,
                    result,
                };
                crate::match_pending(&response, pending)?;
                Ok(DecodedUplink::Response(response))
            }
            (DATA_REPORT | COMMAND_RESPONSE, _) => Err(malformed(format!(
                "message type 0x{kind:02X} does not go with number {id}"
            ))),
            _ => Err(malformed(format!(
                "message type 0x{kind:02X} is not a data report (0x02) or command response (0x86)"
            ))),
        }
    }

    /// Encodes a command downlink, its parameters checked against the model first.
    pub fn encode_command(&self, command: &Command) -> Result<Vec<u8>, CodecError> {
        self.model
            .check_command(&command.service_id, &command.command, &command.params)?;
        let def = self.model.command(&command.service_id, &command.command)?;
        let id = def.compact_id.expect("checked by CompactCodec::new");
        let mut bytes = vec![COMMAND];
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&command.id.to_be_bytes());
        bytes.extend(body(&def.paras, &command.params)?);
        Ok(bytes)
    }

    /// Encodes a device's data report (what a device's firmware sends; for tests and tools).
    pub fn encode_report(&self, service_id: &str, data: &Value) -> Result<Vec<u8>, CodecError> {
        self.model.check_report(service_id, data)?;
        let def = &self.model.service(service_id)?.definition;
        let id = def.compact_id.ok_or_else(|| {
            CodecError::Model(format!("service {service_id} has no properties to report"))
        })?;
        let mut bytes = vec![DATA_REPORT];
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend(body(&def.properties, data)?);
        Ok(bytes)
    }

    /// Encodes a device's command response (what a device's firmware sends; for tests and tools).
    pub fn encode_response(&self, response: &CommandResponse) -> Result<Vec<u8>, CodecError> {
        let (service, name) = (&response.service_id, &response.command);
        self.model.check_response(service, name, &response.result)?;
        let def = self.model.command(service, name)?;
        let id = def.compact_id.expect("checked by CompactCodec::new");
        let mut bytes = vec![COMMAND_RESPONSE];
        bytes.extend_from_slice(&id.to_be_bytes());
        bytes.extend_from_slice(&response.id.to_be_bytes());
        bytes.extend(body(def.response_paras(), &response.result)?);
        Ok(bytes)
    }
}

fn malformed(reason: impl Into<String>) -> CodecError {
    CodecError::Malformed(reason.into())
}

/// The length and fields of a message: the fields in the model's order, every one present
/// (a position cannot be skipped).
fn body(fields: &[Field], object: &Value) -> Result<Vec<u8>, CodecError> {
    let mut data = Vec::new();
    for field in fields {
        let value = object.get(&field.name).ok_or_else(|| CodecError::Value {
            field: field.name.clone(),
            reason: "is missing (the compact codec sends every field)".into(),
        })?;
        encode_field(field, value, &mut data);
    }
    let length = u16::try_from(data.len()).map_err(|_| {
        malformed(format!(
            "{} bytes of fields do not fit in a message",
            data.len()
        ))
    })?;
    let mut bytes = length.to_be_bytes().to_vec();
    bytes.extend(data);
    Ok(bytes)
}

/// Appends one value, already checked against its field.
fn encode_field(field: &Field, value: &Value, out: &mut Vec<u8>) {
    let checked = "checked against the model";
    match field.data_type {
        DataType::Int => {
            let n = i32::try_from(value.as_i64().expect(checked)).expect(checked);
            out.extend_from_slice(&n.to_be_bytes());
        }
        DataType::Long => out.extend_from_slice(&value.as_i64().expect(checked).to_be_bytes()),
        DataType::Decimal => out.extend_from_slice(&value.as_f64().expect(checked).to_be_bytes()),
        DataType::Boolean => out.push(u8::from(value.as_bool().expect(checked))),
        DataType::DateTime => {
            let millis = datetime_millis(value.as_str().expect(checked)).expect(checked);
            out.extend_from_slice(&millis.to_be_bytes());
        }
        DataType::String => {
            let Limits::Length { max } = field.limits else {
                unreachable!("a string's limits are a length")
            };
            let text = value.as_str().expect(checked).as_bytes();
            out.extend_from_slice(text);
            out.resize(out.len() + max - text.len(), 0);
        }
        DataType::VarString => with_length(value.as_str().expect(checked).as_bytes(), out),
        DataType::JsonObject => with_length(value.to_string().as_bytes(), out),
        DataType::Binary => with_length(
            &hex_bytes(value.as_str().expect(checked)).expect(checked),
            out,
        ),
    }
}

fn with_length(bytes: &[u8], out: &mut Vec<u8>) {
    let length = u16::try_from(bytes.len()).expect("checked against the model's maxLength");
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads a message front to back; running short is an error, never a panic.
struct Reader<'b> {
    bytes: &'b [u8],
}

impl<'b> Reader<'b> {
    fn new(bytes: &'b [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'b [u8], CodecError> {
        if self.bytes.len() < n {
            return Err(malformed(format!(
                "{} bytes left where {n} were expected",
                self.bytes.len()
            )));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn with_length(&mut self) -> Result<&'b [u8], CodecError> {
        let n = self.u16()?;
        self.take(n.into())
    }

    /// The length and fields that end a message, checked against the model.
    fn body(&mut self, fields: &[Field]) -> Result<Value, CodecError> {
        let length = self.u16()?;
        if usize::from(length) != self.bytes.len() {
            return Err(malformed(format!(
                "the length says {length} bytes of fields, {} follow",
                self.bytes.len()
            )));
        }
        let mut object = Map::new();
        for field in fields {
            let value = self.field(field)?;
            object.insert(field.name.clone(), value);
        }
        if !self.bytes.is_empty() {
            return Err(malformed(format!(
                "{} bytes follow the last field",
                self.bytes.len()
            )));
        }
        let object = Value::Object(object);
        check_object(fields, &object, "message")?;
        Ok(object)
    }

    fn field(&mut self, field: &Field) -> Result<Value, CodecError> {
        let bad = |reason: String| malformed(format!("field {}: {reason}", field.name));
        Ok(match field.data_type {
            DataType::Int => i32::from_be_bytes(self.array()?).into(),
            DataType::Long => i64::from_be_bytes(self.array()?).into(),
            DataType::Decimal => {
                let n = f64::from_be_bytes(self.array()?);
                Value::Number(Number::from_f64(n).ok_or_else(|| bad(format!("{n} is not finite")))?)
            }
            DataType::Boolean => match self.u8()? {
                0 => false.into(),
                1 => true.into(),
                other => return Err(bad(format!("0x{other:02X} is not 0 or 1"))),
            },
            DataType::DateTime => {
                let millis = i64::from_be_bytes(self.array()?);
                datetime_text(millis)
                    .ok_or_else(|| {
                        bad(format!("{millis} ms is not a whole second of years 0–9999"))
                    })?
                    .into()
            }
            DataType::String => {
                let Limits::Length { max } = field.limits else {
                    unreachable!("a string's limits are a length")
                };
                let padded = self.take(max)?;
                let end = padded.iter().position(|b| *b == 0).unwrap_or(max);
                if padded[end..].iter().any(|b| *b != 0) {
                    return Err(bad("text after the NUL padding".into()));
                }
                utf8(&padded[..end]).map_err(bad)?.into()
            }
            DataType::VarString => utf8(self.with_length()?).map_err(bad)?.into(),
            DataType::JsonObject => {
                let text = utf8(self.with_length()?).map_err(bad)?;
                serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?
            }
            DataType::Binary => hex_string(self.with_length()?).into(),
        })
    }
}

fn utf8(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "not UTF-8 text".to_string())
}
