//! The event contract as AsyncAPI 3.0, kept in `docs/asyncapi.yaml` so a department's developer
//! has a machine-readable contract. It is built here from what the code uses: the compiled
//! descriptors of `events.proto` (payload schemas in the proto3 JSON mapping, and the producer
//! named first in each payload message's comment), `yimen_proto::event_type`, the registry's
//! queues and bindings (`Definition::CONSUMED`) and the platform's bus names.
//! `YIMEN_WRITE_DOCS=1 cargo nextest run -p yimen --test asyncapi` rewrites it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use yimen::settings::Target;
use yimen_platform::bus::amqp::DEAD_LETTER_EXCHANGE;
use yimen_platform::bus::{
    BusConfig, EVENTS_EXCHANGE, QueueSpec, dead_letter_queue, topic_matches,
};
use yimen_proto::event_type;

const DOCUMENT: &str = "docs/asyncapi.yaml";
const AMQP_BINDING: &str = "0.3.0";
const CONTENT_TYPE: &str = "application/x-protobuf";
/// Stands for a department's code in the per-department addresses.
const DEPARTMENT: &str = "{department}";
/// A department code standing for any, where a key or binding is computed.
const SAMPLE_CODE: &str = "x-department";
/// Who publishes `audit.anchored` (see `platform::audit`).
const EVERY_SERVICE: &str = "every service";
/// How `events.proto` names the consumer of the department queue.
const DEPARTMENT_SYSTEM: &str = "the department's own system";

// ---------------------------------------------------------------------------------------------
// A YAML document: ordered maps, written in block style.

#[derive(Debug, Clone)]
enum Y {
    Map(Vec<(String, Y)>),
    List(Vec<Y>),
    Str(String),
    Int(i64),
    Bool(bool),
}

fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Y)>) -> Y {
    Y::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn s(text: impl Into<String>) -> Y {
    Y::Str(text.into())
}

fn list(items: impl IntoIterator<Item = Y>) -> Y {
    Y::List(items.into_iter().collect())
}

fn reference(pointer: &str) -> Y {
    map([("$ref", s(pointer))])
}

impl Y {
    fn push(&mut self, key: &str, value: Y) {
        let Y::Map(entries) = self else {
            panic!("{key} pushed onto a non-map")
        };
        entries.push((key.to_string(), value));
    }

    fn yaml(&self) -> String {
        let mut out = String::new();
        self.write(0, &mut out);
        out
    }

    fn write(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match self {
            Y::Map(entries) => {
                for (key, value) in entries {
                    out.push_str(&format!("{pad}{}:", scalar(key)));
                    value.write_after_key(indent, out);
                }
            }
            Y::List(items) => {
                for item in items {
                    let mut nested = String::new();
                    item.write(indent + 2, &mut nested);
                    let nested = nested
                        .strip_prefix(&" ".repeat(indent + 2))
                        .expect("an item starts at its indent");
                    out.push_str(&format!("{pad}- {nested}"));
                }
            }
            scalar_value => out.push_str(&format!("{pad}{}\n", scalar_value.scalar())),
        }
    }

    fn write_after_key(&self, indent: usize, out: &mut String) {
        match self {
            Y::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
            Y::List(items) if items.is_empty() => out.push_str(" []\n"),
            Y::Map(_) | Y::List(_) => {
                out.push('\n');
                self.write(indent + 2, out);
            }
            scalar_value => out.push_str(&format!(" {}\n", scalar_value.scalar())),
        }
    }

    fn scalar(&self) -> String {
        match self {
            Y::Str(text) => scalar(text),
            Y::Int(n) => n.to_string(),
            Y::Bool(b) => b.to_string(),
            Y::Map(_) | Y::List(_) => unreachable!("not a scalar"),
        }
    }

    /// The same document as JSON, to compare with what a YAML parser reads.
    fn json(&self) -> serde_json::Value {
        match self {
            Y::Map(entries) => {
                let mut object = serde_json::Map::new();
                for (key, value) in entries {
                    assert!(
                        object.insert(key.clone(), value.json()).is_none(),
                        "{key} twice"
                    );
                }
                serde_json::Value::Object(object)
            }
            Y::List(items) => serde_json::Value::Array(items.iter().map(Y::json).collect()),
            Y::Str(text) => serde_json::Value::String(text.clone()),
            Y::Int(n) => serde_json::Value::from(*n),
            Y::Bool(b) => serde_json::Value::Bool(*b),
        }
    }
}

/// A string plain when YAML can only read it back as that string, else double-quoted (a JSON
/// string is a YAML double-quoted scalar).
fn scalar(text: &str) -> String {
    let plain = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !text.ends_with(' ')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._/-".contains(c))
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        text.to_string()
    } else {
        serde_json::to_string(text).expect("a string")
    }
}

// ---------------------------------------------------------------------------------------------
// The compiled contract.

struct Contract {
    messages: BTreeMap<String, (DescriptorProto, Vec<i32>, usize)>,
    enums: BTreeMap<String, (EnumDescriptorProto, Vec<i32>, usize)>,
    /// Per file: source path → its comment.
    comments: Vec<BTreeMap<Vec<i32>, String>>,
}

impl Contract {
    fn load() -> Self {
        let set = FileDescriptorSet::decode(yimen_proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set the build wrote");
        let mut contract = Contract {
            messages: BTreeMap::new(),
            enums: BTreeMap::new(),
            comments: Vec::new(),
        };
        for (index, file) in set.file.iter().enumerate() {
            let prefix = format!(".{}", file.package());
            for (i, message) in file.message_type.iter().enumerate() {
                contract.add_message(&prefix, message, vec![4, i as i32], index);
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                contract.enums.insert(
                    format!("{prefix}.{}", e.name()),
                    (e.clone(), vec![5, i as i32], index),
                );
            }
            let comments = file
                .source_code_info
                .iter()
                .flat_map(|info| &info.location)
                .filter_map(|l| {
                    let text = l
                        .leading_comments
                        .as_deref()
                        .filter(|c| !c.trim().is_empty())
                        .or(l.trailing_comments.as_deref())?;
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    (!text.is_empty()).then(|| (l.path.clone(), text))
                })
                .collect();
            contract.comments.push(comments);
        }
        contract
    }

    fn add_message(
        &mut self,
        prefix: &str,
        message: &DescriptorProto,
        path: Vec<i32>,
        file: usize,
    ) {
        let name = format!("{prefix}.{}", message.name());
        for (i, nested) in message.nested_type.iter().enumerate() {
            let mut nested_path = path.clone();
            nested_path.extend([3, i as i32]);
            self.add_message(&name, nested, nested_path, file);
        }
        for (i, e) in message.enum_type.iter().enumerate() {
            let mut enum_path = path.clone();
            enum_path.extend([4, i as i32]);
            self.enums
                .insert(format!("{name}.{}", e.name()), (e.clone(), enum_path, file));
        }
        self.messages.insert(name, (message.clone(), path, file));
    }

    fn message(&self, name: &str) -> &(DescriptorProto, Vec<i32>, usize) {
        self.messages
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the contract"))
    }

    fn comment(&self, file: usize, path: &[i32]) -> Option<&str> {
        self.comments[file].get(path).map(String::as_str)
    }

    /// `Event.payload`'s members, in the order of `events.proto`.
    fn payload_members(&self) -> Vec<FieldDescriptorProto> {
        let (event, _, _) = self.message(".yimen.v1.Event");
        let payload = event
            .oneof_decl
            .iter()
            .position(|o| o.name() == "payload")
            .expect("Event has a payload oneof") as i32;
        event
            .field
            .iter()
            .filter(|f| f.oneof_index == Some(payload))
            .cloned()
            .collect()
    }

    /// Who a payload message's comment says sends and receives it: `dispatch → intake,
    /// analysis, the department's own system (routing key ...): ...`.
    fn flow(&self, message: &str) -> (String, BTreeSet<String>) {
        let (_, path, file) = self.message(message);
        let comment = self
            .comment(*file, path)
            .unwrap_or_else(|| panic!("{message} has no comment naming its producer"));
        let (producer, rest) = comment
            .split_once('→')
            .unwrap_or_else(|| panic!("{message}'s comment does not start `producer →`"));
        let consumers = rest
            .split(['(', ':'])
            .next()
            .unwrap_or_default()
            .split(',')
            .map(|c| c.trim().trim_end_matches('.').to_string())
            .collect();
        (producer.trim().to_string(), consumers)
    }

    /// The JSON Schema of a field in the proto3 JSON mapping; message and enum types it names
    /// are added to `wanted`.
    fn field_schema(&self, field: &FieldDescriptorProto, wanted: &mut BTreeSet<String>) -> Y {
        let of_type = match field.r#type() {
            Type::Double | Type::Float => map([("type", s("number"))]),
            Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
                map([("type", s("integer")), ("format", s("int32"))])
            }
            Type::Uint32 | Type::Fixed32 => map([
                ("type", s("integer")),
                ("minimum", Y::Int(0)),
                ("maximum", Y::Int(i64::from(u32::MAX))),
            ]),
            Type::Int64 | Type::Sint64 | Type::Sfixed64 => map([
                ("type", s("string")),
                ("format", s("int64")),
                ("pattern", s("^-?[0-9]+$")),
            ]),
            Type::Uint64 | Type::Fixed64 => map([
                ("type", s("string")),
                ("format", s("uint64")),
                ("pattern", s("^[0-9]+$")),
            ]),
            Type::Bool => map([("type", s("boolean"))]),
            Type::String => map([("type", s("string"))]),
            Type::Bytes => map([("type", s("string")), ("contentEncoding", s("base64"))]),
            Type::Enum => {
                wanted.insert(field.type_name().to_string());
                reference(&schema_pointer(field.type_name()))
            }
            Type::Message | Type::Group => match field.type_name() {
                ".google.protobuf.Timestamp" => {
                    map([("type", s("string")), ("format", s("date-time"))])
                }
                ".google.protobuf.Duration" => map([
                    ("type", s("string")),
                    ("pattern", s("^-?[0-9]+(\\.[0-9]{1,9})?s$")),
                ]),
                other if other.starts_with(".google.") => {
                    panic!("map the well-known type {other} to its JSON form here")
                }
                other => {
                    let (message, _, _) = self.message(other);
                    if message.options.as_ref().is_some_and(|o| o.map_entry()) {
                        let value = message
                            .field
                            .iter()
                            .find(|f| f.number() == 2)
                            .expect("a map entry has a value");
                        return map([
                            ("type", s("object")),
                            ("additionalProperties", self.field_schema(value, wanted)),
                        ]);
                    }
                    wanted.insert(other.to_string());
                    reference(&schema_pointer(other))
                }
            },
        };
        if field.label() == Label::Repeated {
            map([("type", s("array")), ("items", of_type)])
        } else {
            of_type
        }
    }

    /// A field's schema with its comment as the description (beside a `$ref` through `allOf`,
    /// which JSON Schema draft 7 reads).
    fn described(&self, schema: Y, comment: Option<&str>) -> Y {
        let Some(comment) = comment else {
            return schema;
        };
        match schema {
            Y::Map(mut entries) if entries.iter().all(|(k, _)| k != "$ref") => {
                entries.insert(0, ("description".into(), s(comment)));
                Y::Map(entries)
            }
            other => map([("description", s(comment)), ("allOf", list([other]))]),
        }
    }

    fn properties(
        &self,
        name: &str,
        keep: impl Fn(&FieldDescriptorProto) -> bool,
        wanted: &mut BTreeSet<String>,
    ) -> Vec<(String, Y)> {
        let (message, path, file) = self.message(name);
        message
            .field
            .iter()
            .enumerate()
            .filter(|(_, f)| keep(f))
            .map(|(i, f)| {
                let mut field_path = path.clone();
                field_path.extend([2, i as i32]);
                let schema = self.field_schema(f, wanted);
                (
                    json_name(f),
                    self.described(schema, self.comment(*file, &field_path)),
                )
            })
            .collect()
    }

    /// The schema of a message (every field) or an enum (its value names).
    fn schema(&self, name: &str, wanted: &mut BTreeSet<String>) -> Y {
        if let Some((e, path, file)) = self.enums.get(name) {
            let mut schema = map([("type", s("string"))]);
            if let Some(comment) = self.comment(*file, path) {
                schema.push("description", s(comment));
            }
            schema.push("enum", list(e.value.iter().map(|v| s(v.name()))));
            return schema;
        }
        let (_, path, file) = self.message(name);
        let mut schema = map([("type", s("object"))]);
        if let Some(comment) = self.comment(*file, path) {
            schema.push("description", s(comment));
        }
        schema.push(
            "properties",
            Y::Map(self.properties(name, |_| true, wanted)),
        );
        schema
    }
}

fn json_name(field: &FieldDescriptorProto) -> String {
    if let Some(name) = field.json_name.as_deref().filter(|n| !n.is_empty()) {
        return name.to_string();
    }
    let mut out = String::new();
    let mut upper = false;
    for c in field.name().chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn schema_pointer(type_name: &str) -> String {
    format!("#/components/schemas/{}", type_name.trim_start_matches('.'))
}

// ---------------------------------------------------------------------------------------------
// The document.

/// An event type as the document knows it.
struct EventKind {
    /// The routing key, or for a per-department type its prefix (`case.assigned`).
    name: &'static str,
    per_department: bool,
    /// `Event.payload`'s member that carries it.
    member: FieldDescriptorProto,
    producers: Vec<&'static str>,
}

impl EventKind {
    fn address(&self) -> String {
        if self.per_department {
            event_type::for_department(self.name, DEPARTMENT)
        } else {
            self.name.to_string()
        }
    }

    /// Whether a queue bound by `pattern` gets this event.
    fn bound_by(&self, pattern: &str) -> bool {
        let key = if self.per_department {
            event_type::for_department(self.name, SAMPLE_CODE)
        } else {
            self.name.to_string()
        };
        topic_matches(pattern, &key)
    }

    fn message_ref(&self, channel: &str) -> Y {
        reference(&format!("#/channels/{channel}/messages/{}", self.name))
    }
}

fn kinds(contract: &Contract) -> Vec<EventKind> {
    let members = contract.payload_members();
    event_type::ALL
        .iter()
        .map(|name| {
            let member = members
                .iter()
                .find(|m| m.name() == name.replacen('.', "_", 1))
                .unwrap_or_else(|| panic!("no Event.payload member carries {name}"))
                .clone();
            let (producer, _) = contract.flow(member.type_name());
            let producers = if producer == EVERY_SERVICE {
                Target::ALL.iter().map(|t| t.name()).collect()
            } else {
                let target = Target::ALL
                    .into_iter()
                    .find(|t| t.name() == producer)
                    .unwrap_or_else(|| panic!("{name}: no service named {producer}"));
                vec![target.name()]
            };
            EventKind {
                name,
                per_department: event_type::PER_DEPARTMENT.contains(name),
                member,
                producers,
            }
        })
        .collect()
}

fn exchange_binding() -> Y {
    map([(
        "amqp",
        map([
            ("is", s("routingKey")),
            (
                "exchange",
                map([
                    ("name", s(EVENTS_EXCHANGE)),
                    ("type", s("topic")),
                    ("durable", Y::Bool(true)),
                    ("autoDelete", Y::Bool(false)),
                    ("vhost", s("/")),
                ]),
            ),
            ("bindingVersion", s(AMQP_BINDING)),
        ]),
    )])
}

fn department_parameter() -> Y {
    map([(
        "department",
        map([(
            "description",
            s("The department's code (`yimen dept list`), e.g. civil-affairs."),
        )]),
    )])
}

/// A queue channel: the queue, its bindings and arguments, and the messages they bring.
fn queue_channel(queue: &QueueSpec, address: &str, description: String, kinds: &[EventKind]) -> Y {
    let limit = BusConfig::default().delivery_limit;
    let mut channel = map([("address", s(address)), ("description", s(description))]);
    if address.contains(DEPARTMENT) {
        channel.push("parameters", department_parameter());
    }
    channel.push(
        "messages",
        Y::Map(
            kinds
                .iter()
                .filter(|k| queue.bindings.iter().any(|b| k.bound_by(b)))
                .map(|k| {
                    (
                        k.name.to_string(),
                        reference(&format!("#/components/messages/{}", k.name)),
                    )
                })
                .collect(),
        ),
    );
    channel.push(
        "bindings",
        map([(
            "amqp",
            map([
                ("is", s("queue")),
                (
                    "queue",
                    map([
                        ("name", s(address)),
                        ("durable", Y::Bool(true)),
                        ("exclusive", Y::Bool(false)),
                        ("autoDelete", Y::Bool(false)),
                        ("vhost", s("/")),
                    ]),
                ),
                ("bindingVersion", s(AMQP_BINDING)),
            ]),
        )]),
    );
    channel.push(
        "x-bindings",
        list(
            queue
                .bindings
                .iter()
                .map(|b| s(b.replace(SAMPLE_CODE, DEPARTMENT))),
        ),
    );
    channel.push(
        "x-arguments",
        map([
            ("x-queue-type", s("quorum")),
            ("x-delivery-limit", Y::Int(i64::from(limit))),
            ("x-dead-letter-exchange", s(DEAD_LETTER_EXCHANGE)),
            ("x-dead-letter-routing-key", s(address)),
        ]),
    );
    channel.push("x-dead-letter-queue", s(dead_letter_queue(address)));
    channel
}

fn queue_description(what: &str, queue: &QueueSpec, address: &str) -> String {
    let limit = BusConfig::default().delivery_limit;
    format!(
        "{what}: a durable quorum queue bound to `{EVENTS_EXCHANGE}` by {}. A message nacked \
         with requeue counts a delivery; past `x-delivery-limit` (`bus.delivery_limit`, default \
         {limit}), or rejected outright, it is dead-lettered through the direct exchange \
         `{DEAD_LETTER_EXCHANGE}` (routing key: the queue's name) to `{}`.",
        queue
            .bindings
            .iter()
            .map(|b| format!("`{}`", b.replace(SAMPLE_CODE, DEPARTMENT)))
            .collect::<Vec<_>>()
            .join(", "),
        dead_letter_queue(address),
    )
}

fn document() -> Y {
    let contract = Contract::load();
    let kinds = kinds(&contract);
    let mut wanted = BTreeSet::new();

    let info = map([
        ("title", s("yimen events")),
        ("version", s(env!("CARGO_PKG_VERSION"))),
        (
            "description",
            s(format!(
                "The events yimen's five services exchange on RabbitMQ. Every event is one \
                 `yimen.v1.Event` (proto/yimen/v1/events.proto), protobuf binary, published \
                 persistent and mandatory, with publisher confirms, to the durable topic \
                 exchange `{EVENTS_EXCHANGE}` under its type as routing key; events about a \
                 department's own work are published per department as `<type>.<department \
                 code>`. AMQP properties: `message_id` = `Event.id` (UUIDv7, the consumers' \
                 inbox key: delivery is at least once, effects exactly once), `content_type` \
                 `{CONTENT_TYPE}`; headers `traceparent` and `tracestate` (W3C trace context). \
                 The payload schemas below are the proto3 JSON form of the message (enums as \
                 their names, 64-bit integers as strings); the wire carries the binary \
                 encoding. An installation's `bus.prefix` is prepended to every exchange and \
                 queue name here (`h11.` makes `h11.{EVENTS_EXCHANGE}`); routing keys carry \
                 no prefix. Payloads carry no personal data of petitioners. Generated by \
                 services/yimen/tests/asyncapi.rs; do not edit by hand."
            )),
        ),
    ]);

    let servers = map([(
        "rabbitmq",
        map([
            ("host", s("localhost:5672")),
            ("protocol", s("amqp")),
            ("protocolVersion", s("0.9.1")),
            (
                "description",
                s("The installation's RabbitMQ, `bus.url` (amqp:// or amqps://)."),
            ),
        ]),
    )]);

    let mut channels = Vec::new();
    for kind in &kinds {
        let (_, path, file) = contract.message(kind.member.type_name());
        let mut channel = map([("address", s(kind.address()))]);
        if let Some(comment) = contract.comment(*file, path) {
            channel.push("description", s(comment));
        }
        if kind.per_department {
            channel.push("parameters", department_parameter());
        }
        channel.push(
            "messages",
            map([(
                kind.name,
                reference(&format!("#/components/messages/{}", kind.name)),
            )]),
        );
        channel.push("bindings", exchange_binding());
        channels.push((kind.name.to_string(), channel));
    }
    for target in Target::ALL {
        let queue = target.queue();
        let description = queue_description(
            &format!("The queue {} consumes", target.name()),
            &queue,
            &queue.name,
        );
        channels.push((
            queue.name.clone(),
            queue_channel(&queue, &queue.name.clone(), description, &kinds),
        ));
    }
    let department = QueueSpec::department(SAMPLE_CODE);
    let department_address = department.name.replace(SAMPLE_CODE, DEPARTMENT);
    let description = queue_description(
        "A department's own system consumes its work here (declared when the department \
         joins; consume it as it is, or declare it with the same arguments)",
        &department,
        &department_address,
    );
    channels.push((
        "yimen.dept".to_string(),
        queue_channel(&department, &department_address, description, &kinds),
    ));

    let mut operations = Vec::new();
    for kind in &kinds {
        for producer in &kind.producers {
            operations.push((
                format!("{producer}.send.{}", kind.name),
                map([
                    ("action", s("send")),
                    ("channel", reference(&format!("#/channels/{}", kind.name))),
                    ("summary", s(format!("{producer} publishes {}.", kind.name))),
                    ("messages", list([kind.message_ref(kind.name)])),
                    (
                        "bindings",
                        map([(
                            "amqp",
                            map([
                                ("deliveryMode", Y::Int(2)),
                                ("mandatory", Y::Bool(true)),
                                ("bindingVersion", s(AMQP_BINDING)),
                            ]),
                        )]),
                    ),
                ]),
            ));
        }
    }
    let receive = |channel: &str, summary: String, queue: &QueueSpec| {
        map([
            ("action", s("receive")),
            ("channel", reference(&format!("#/channels/{channel}"))),
            ("summary", s(summary)),
            (
                "messages",
                list(
                    kinds
                        .iter()
                        .filter(|k| queue.bindings.iter().any(|b| k.bound_by(b)))
                        .map(|k| k.message_ref(channel)),
                ),
            ),
            (
                "bindings",
                map([(
                    "amqp",
                    map([("ack", Y::Bool(true)), ("bindingVersion", s(AMQP_BINDING))]),
                )]),
            ),
        ])
    };
    for target in Target::ALL {
        let queue = target.queue();
        operations.push((
            format!("{}.receive", target.name()),
            receive(
                &queue.name,
                format!(
                    "{} consumes its queue (manual acks; the event id recorded in its inbox \
                     with the effect).",
                    target.name()
                ),
                &queue,
            ),
        ));
    }
    operations.push((
        "department.receive".to_string(),
        receive(
            "yimen.dept",
            "A department's own system consumes the events of its work.".to_string(),
            &department,
        ),
    ));

    let event_name = "yimen.v1.Event";
    let members: BTreeSet<String> = contract
        .payload_members()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    let mut messages = Vec::new();
    for kind in &kinds {
        let mut properties = contract.properties(
            &format!(".{event_name}"),
            |f| !members.contains(f.name()),
            &mut wanted,
        );
        for (name, schema) in &mut properties {
            match name.as_str() {
                "type" => {
                    let pattern = if kind.per_department {
                        format!("^{}\\.[^.]+$", kind.name.replace('.', "\\."))
                    } else {
                        format!("^{}$", kind.name.replace('.', "\\."))
                    };
                    schema.push("pattern", s(pattern));
                }
                "producer" => {
                    schema.push("enum", list(kind.producers.iter().map(|p| s(*p))));
                }
                _ => {}
            }
        }
        let member_schema = contract.field_schema(&kind.member, &mut wanted);
        let member_name = json_name(&kind.member);
        properties.push((member_name.clone(), member_schema));
        let mut payload = map([
            ("type", s("object")),
            (
                "description",
                s(format!(
                    "The `{}` envelope in its proto3 JSON form (the wire carries the binary \
                     encoding).",
                    event_name
                )),
            ),
        ]);
        payload.push(
            "required",
            list(
                ["id", "type", "occurredAt", "producer", member_name.as_str()]
                    .into_iter()
                    .map(s),
            ),
        );
        payload.push("properties", Y::Map(properties));
        let (_, path, file) = contract.message(kind.member.type_name());
        let mut message = map([
            ("name", s(kind.name)),
            ("title", s(kind.member.type_name().trim_start_matches('.'))),
        ]);
        if let Some(comment) = contract.comment(*file, path) {
            message.push("summary", s(comment));
        }
        message.push(
            "description",
            s(format!(
                "Body: `{event_name}` (protobuf binary) with `payload.{}` set. AMQP \
                 `message_id` = `Event.id`; routing key = `Event.type` ({}).",
                kind.member.name(),
                kind.address()
            )),
        );
        message.push("contentType", s(CONTENT_TYPE));
        message.push(
            "headers",
            map([
                ("type", s("object")),
                (
                    "properties",
                    map([
                        (
                            "traceparent",
                            map([
                                ("type", s("string")),
                                (
                                    "description",
                                    s("W3C trace context of the publishing span."),
                                ),
                            ]),
                        ),
                        (
                            "tracestate",
                            map([
                                ("type", s("string")),
                                ("description", s("W3C trace state, when there is one.")),
                            ]),
                        ),
                    ]),
                ),
            ]),
        );
        message.push("payload", payload);
        message.push(
            "bindings",
            map([(
                "amqp",
                map([
                    ("messageType", s(kind.name)),
                    ("bindingVersion", s(AMQP_BINDING)),
                ]),
            )]),
        );
        messages.push((kind.name.to_string(), message));
    }

    let mut schemas = BTreeMap::new();
    while let Some(name) = wanted.iter().find(|n| !schemas.contains_key(*n)).cloned() {
        let schema = contract.schema(&name, &mut wanted);
        schemas.insert(name, schema);
    }

    map([
        ("asyncapi", s("3.0.0")),
        ("info", info),
        ("defaultContentType", s(CONTENT_TYPE)),
        ("servers", servers),
        ("channels", Y::Map(channels)),
        ("operations", Y::Map(operations)),
        (
            "components",
            map([
                ("messages", Y::Map(messages)),
                (
                    "schemas",
                    Y::Map(
                        schemas
                            .into_iter()
                            .map(|(name, schema)| {
                                (name.trim_start_matches('.').to_string(), schema)
                            })
                            .collect(),
                    ),
                ),
            ]),
        ),
    ])
}

// ---------------------------------------------------------------------------------------------
// The tests.

fn document_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(DOCUMENT)
}

/// What a YAML parser (PyYAML) reads from `yaml`, as JSON: the project's own Python tools in
/// `.venv` (`make test` installs them, as `make helm-check` does), else the system's python3.
fn parse_yaml(yaml: &str) -> serde_json::Value {
    let mut python = Command::new(yimen_testkit::python())
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (with PyYAML) reads the document");
    python
        .stdin
        .take()
        .expect("its stdin")
        .write_all(yaml.as_bytes())
        .expect("the document written to python3");
    let out = python.wait_with_output().expect("python3 ends");
    assert!(out.status.success(), "PyYAML cannot read the document");
    serde_json::from_slice(&out.stdout).expect("python3 wrote JSON")
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let generated = document().yaml();
    let path = document_path();
    if std::env::var_os("YIMEN_WRITE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/asyncapi.yaml");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/asyncapi.yaml is stale: run `YIMEN_WRITE_DOCS=1 cargo nextest run -p yimen --test asyncapi`"
    );
}

#[test]
fn a_yaml_parser_reads_the_document_as_generated() {
    let document = document();
    assert_eq!(parse_yaml(&document.yaml()), document.json());
}

/// Read from the committed file, so neither a new `Event.payload` member nor a hand-added event
/// type goes unnoticed: the document's event types are exactly the payload members.
#[test]
fn the_documents_event_types_are_exactly_the_payload_members() {
    let committed = std::fs::read_to_string(document_path()).expect("docs/asyncapi.yaml");
    let document = parse_yaml(&committed);
    assert_eq!(document["asyncapi"], "3.0.0");
    let members: BTreeSet<String> = Contract::load()
        .payload_members()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    let messages = document["components"]["messages"]
        .as_object()
        .expect("components.messages");
    let documented: BTreeSet<String> = messages.keys().map(|t| t.replacen('.', "_", 1)).collect();
    assert_eq!(documented, members);
    for (event_type, message) in messages {
        let channel = &document["channels"][event_type];
        assert_eq!(
            channel["messages"][event_type]["$ref"],
            format!("#/components/messages/{event_type}")
        );
        let address = channel["address"].as_str().expect("an address");
        assert!(
            address == event_type || address == format!("{event_type}.{DEPARTMENT}"),
            "{event_type} at {address}"
        );
        let member = json_name(&FieldDescriptorProto {
            name: Some(event_type.replacen('.', "_", 1)),
            ..Default::default()
        });
        assert!(
            message["payload"]["properties"][&member].is_object(),
            "{event_type} carries no {member}"
        );
        let senders = document["operations"]
            .as_object()
            .expect("operations")
            .values()
            .filter(|o| {
                o["action"] == "send" && o["channel"]["$ref"] == format!("#/channels/{event_type}")
            })
            .count();
        assert!(senders > 0, "nobody sends {event_type}");
    }
}

/// Each service's receive operation lists exactly what its `CONSUMED` bindings bring it, and the
/// department queue its department's events.
#[test]
fn receive_operations_follow_the_consumed_bindings() {
    let document = document().json();
    for target in Target::ALL {
        let queue = target.queue();
        let listed: BTreeSet<String> = document["operations"][format!("{}.receive", target.name())]
            ["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| {
                let pointer = m["$ref"].as_str().expect("a $ref");
                pointer.rsplit('/').next().expect("a name").to_string()
            })
            .collect();
        let expected: BTreeSet<String> = event_type::ALL
            .iter()
            .filter(|t| {
                let key = if event_type::PER_DEPARTMENT.contains(t) {
                    event_type::for_department(t, "housing")
                } else {
                    t.to_string()
                };
                queue.bindings.iter().any(|b| topic_matches(b, &key))
            })
            .map(|t| t.to_string())
            .collect();
        assert_eq!(listed, expected, "{}", target.name());
    }
    let department: BTreeSet<&str> = document["channels"]["yimen.dept"]["messages"]
        .as_object()
        .expect("the department queue's messages")
        .keys()
        .map(String::as_str)
        .collect();
    let per_department: BTreeSet<&str> = event_type::PER_DEPARTMENT.iter().copied().collect();
    assert_eq!(department, per_department);
}

/// The `producer → consumers` line of each payload message in `events.proto` (the channels'
/// descriptions here) names exactly the queues whose bindings bring the event.
#[test]
fn the_proto_comments_name_the_real_consumers() {
    let contract = Contract::load();
    let department = QueueSpec::department(SAMPLE_CODE);
    for kind in kinds(&contract) {
        let (_, said) = contract.flow(kind.member.type_name());
        let mut bound: BTreeSet<String> = Target::ALL
            .into_iter()
            .filter(|t| t.queue().bindings.iter().any(|b| kind.bound_by(b)))
            .map(|t| t.name().to_string())
            .collect();
        if department.bindings.iter().any(|b| kind.bound_by(b)) {
            bound.insert(DEPARTMENT_SYSTEM.to_string());
        }
        assert_eq!(said, bound, "{}: events.proto says otherwise", kind.name);
    }
}
