//! Rendering the typed units of work into DynamoDB expressions and SDK types, with
//! generated placeholders: the only place expression text is written.

use crate::error::{Error, Result};
use crate::key::{self as keys, Key};
use crate::table::Item;
use crate::write::{Action, Cmp, Cond, Op, Update};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update as SdkUpdate,
};
use std::collections::HashMap;

/// The placeholders of one request (`#n0`, `:v0`, ...), filled while rendering its
/// typed conditions and updates: the only place expression text is written.
#[derive(Debug, Default)]
pub(crate) struct Placeholders {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Placeholders {
    pub(crate) fn name(&mut self, attribute: &str) -> String {
        if let Some((placeholder, _)) = self.names.iter().find(|(_, a)| a.as_str() == attribute) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    pub(crate) fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    pub(crate) fn cond(&mut self, c: &Cond) -> String {
        let join = |p: &mut Self, cs: &[Cond], op: &str| {
            cs.iter()
                .map(|c| format!("({})", p.cond(c)))
                .collect::<Vec<_>>()
                .join(op)
        };
        match c {
            Cond::Exists(a) => format!("attribute_exists({})", self.name(a)),
            Cond::NotExists(a) => format!("attribute_not_exists({})", self.name(a)),
            Cond::Compare(a, cmp, v) => {
                let op = match cmp {
                    Cmp::Eq => "=",
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                };
                let name = self.name(a);
                let value = self.value(v.clone().into());
                format!("{name} {op} {value}")
            }
            Cond::All(cs) => join(self, cs, " AND "),
            Cond::Any(cs) => join(self, cs, " OR "),
            Cond::Not(c) => format!("NOT ({})", self.cond(c)),
        }
    }

    pub(crate) fn update(&mut self, u: &Update) -> String {
        let (mut set, mut add, mut remove) = (Vec::new(), Vec::new(), Vec::new());
        for action in &u.actions {
            match action {
                Action::Set(a, v) => {
                    let (n, v) = (self.name(a), self.value(v.clone().into()));
                    set.push(format!("{n} = {v}"));
                }
                Action::SetIfAbsent(a, v) => {
                    let (n, v) = (self.name(a), self.value(v.clone().into()));
                    set.push(format!("{n} = if_not_exists({n}, {v})"));
                }
                Action::Append(a, v) => {
                    let n = self.name(a);
                    let empty = self.value(AttributeValue::L(Vec::new()));
                    let v = self.value(v.clone().into());
                    set.push(format!(
                        "{n} = list_append(if_not_exists({n}, {empty}), {v})"
                    ));
                }
                Action::Add(a, by) => {
                    let (n, v) = (self.name(a), self.value(AttributeValue::N(by.to_string())));
                    add.push(format!("{n} {v}"));
                }
                Action::Remove(a) => remove.push(self.name(a)),
            }
        }
        [("SET", set), ("ADD", add), ("REMOVE", remove)]
            .into_iter()
            .filter(|(_, parts)| !parts.is_empty())
            .map(|(kw, parts)| format!("{kw} {}", parts.join(", ")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(crate) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(crate) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// A condition rendered for one request.
pub(crate) fn render_cond(cond: Option<&Cond>) -> (Option<String>, Placeholders) {
    let mut p = Placeholders::default();
    let text = cond.map(|c| p.cond(c));
    (text, p)
}

/// Sets a rendered condition and the placeholders of the request on any SDK builder that
/// takes them (Put, Update, Delete, ConditionCheck and their single-item forms).
macro_rules! conditioned {
    ($builder:expr, $text:expr, $placeholders:expr) => {
        $builder
            .set_condition_expression($text)
            .set_expression_attribute_names($placeholders.names())
            .set_expression_attribute_values($placeholders.values())
    };
}
/// The outcome of a single-item conditional write: `Ok(false)` when its condition failed.
pub(crate) fn held<O, E, R>(res: Result<O, aws_sdk_dynamodb::error::SdkError<E, R>>) -> Result<bool>
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match res {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().and_then(|s| s.code()) == Some(CONDITION_FAILED) => {
            Ok(false)
        }
        Err(e) => Err(Error::sdk(e)),
    }
}

pub(crate) const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// The SDK's form of one write of a transaction.
pub(crate) fn transact_item(table: &str, op: &Op) -> Result<TransactWriteItem> {
    let b = TransactWriteItem::builder();
    Ok(match op {
        Op::Put { item, cond } => {
            let (text, p) = render_cond(cond.as_ref());
            let put = Put::builder()
                .table_name(table)
                .set_item(Some(item.clone().into()));
            b.put(conditioned!(put, text, p).build().map_err(Error::store)?)
        }
        Op::Update { key, update, cond } => {
            let (text, mut p) = render_cond(cond.as_ref());
            let update = SdkUpdate::builder()
                .table_name(table)
                .set_key(Some(key_item(key)))
                .update_expression(p.update(update));
            b.update(
                conditioned!(update, text, p)
                    .build()
                    .map_err(Error::store)?,
            )
        }
        Op::Delete { key, cond } => {
            let (text, p) = render_cond(cond.as_ref());
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(key_item(key)));
            b.delete(
                conditioned!(delete, text, p)
                    .build()
                    .map_err(Error::store)?,
            )
        }
        Op::Check { key, cond } => {
            let (text, p) = render_cond(Some(cond));
            let check = ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key_item(key)));
            b.condition_check(conditioned!(check, text, p).build().map_err(Error::store)?)
        }
    }
    .build())
}

pub(crate) fn key_item(key: &Key) -> Item {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (keys::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}
