//! The stack's DynamoDB client interceptor that counts calls, their depth, capacity and IAM actions.

use super::*;

/// Records every DynamoDB request the stack's client sends: the operation, when it
/// started and ended, and the capacity DynamoDB says it consumed (the interceptor asks
/// for `ReturnConsumedCapacity=TOTAL` on every request, so no code under test has to).
/// One SDK execution (retries included) is one call.
#[derive(Debug, Default, Clone)]
pub struct CallCounter(Arc<Mutex<Vec<Call>>>);

/// One DynamoDB request as the interceptor saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: &'static str,
    pub start: Instant,
    pub end: Option<Instant>,
    /// Read capacity units (GetItem, Query, Scan, BatchGetItem, TransactGetItems).
    pub rcu: f64,
    /// Write capacity units (every other operation).
    pub wcu: f64,
    /// The IAM actions the request needs ([`iam_actions`]).
    pub iam: Vec<&'static str>,
    /// Whether it reads a secondary index (IAM resource `<table>/index/<name>`).
    pub index: bool,
}

/// Where a window of calls begins: [`CallCounter::mark`].
#[derive(Debug, Clone, Copy)]
pub struct Mark(usize);

/// The calls of a window: how many, how deep, how much capacity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calls {
    pub calls: u64,
    /// Sequential round trips: calls whose time spans overlap count once.
    pub depth: u64,
    pub rcu: f64,
    pub wcu: f64,
    pub operations: Vec<&'static str>,
    /// The IAM actions the calls need, sorted, each once.
    pub iam: Vec<&'static str>,
    /// Whether any of them reads a secondary index.
    pub index: bool,
}

impl CallCounter {
    /// Calls sent so far.
    pub fn get(&self) -> u64 {
        self.lock().len() as u64
    }

    pub fn mark(&self) -> Mark {
        Mark(self.lock().len())
    }

    /// The calls sent since `mark`.
    pub fn since(&self, mark: Mark) -> Calls {
        Calls::of(&self.calls_since(mark))
    }

    /// The calls sent since `mark`, one by one.
    pub fn calls_since(&self, mark: Mark) -> Vec<Call> {
        self.lock().iter().skip(mark.0).cloned().collect()
    }

    /// Waits until no call since `mark` has been sent or been in flight for 300 ms (at
    /// most 5 s): for the work a route starts and does not wait for (a delivered page's
    /// usage count).
    pub async fn settle(&self, mark: Mark) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut last = self.get();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let now = self.get();
            let in_flight = self.lock().iter().skip(mark.0).any(|c| c.end.is_none());
            if (now == last && !in_flight) || tokio::time::Instant::now() > deadline {
                return;
            }
            last = now;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Call>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Calls {
    /// The figures of `calls`.
    pub fn of(calls: &[Call]) -> Calls {
        Calls {
            calls: calls.len() as u64,
            depth: depth(calls),
            rcu: calls.iter().map(|c| c.rcu).sum(),
            wcu: calls.iter().map(|c| c.wcu).sum(),
            operations: calls.iter().map(|c| c.operation).collect(),
            iam: {
                let mut iam: Vec<&'static str> =
                    calls.iter().flat_map(|c| c.iam.iter().copied()).collect();
                iam.sort_unstable();
                iam.dedup();
                iam
            },
            index: calls.iter().any(|c| c.index),
        }
    }
}

/// Sequential depth: the calls sorted by start, merged while they overlap.
pub fn depth(calls: &[Call]) -> u64 {
    let mut spans: Vec<(Instant, Instant)> = calls
        .iter()
        .map(|c| (c.start, c.end.unwrap_or(c.start)))
        .collect();
    spans.sort();
    let mut rounds = 0;
    let mut until: Option<Instant> = None;
    for (start, end) in spans {
        match until {
            Some(u) if start < u => until = Some(u.max(end)),
            _ => {
                rounds += 1;
                until = Some(end);
            }
        }
    }
    rounds
}

/// The index of this execution's call, kept in its config bag between the interceptor's
/// hooks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallIndex(usize);

impl aws_smithy_types::config_bag::Storable for CallIndex {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// Runs `$body` with `$v` bound to the request input of each operation the project uses.
macro_rules! each_input {
    ($input:expr, $v:ident => $body:expr) => {{
        use aws_sdk_dynamodb::operation as op;
        if let Some($v) = $input.downcast_mut::<op::get_item::GetItemInput>() {
            $body;
            "GetItem"
        } else if let Some($v) = $input.downcast_mut::<op::query::QueryInput>() {
            $body;
            "Query"
        } else if let Some($v) = $input.downcast_mut::<op::scan::ScanInput>() {
            $body;
            "Scan"
        } else if let Some($v) = $input.downcast_mut::<op::batch_get_item::BatchGetItemInput>() {
            $body;
            "BatchGetItem"
        } else if let Some($v) =
            $input.downcast_mut::<op::transact_get_items::TransactGetItemsInput>()
        {
            $body;
            "TransactGetItems"
        } else if let Some($v) = $input.downcast_mut::<op::put_item::PutItemInput>() {
            $body;
            "PutItem"
        } else if let Some($v) = $input.downcast_mut::<op::update_item::UpdateItemInput>() {
            $body;
            "UpdateItem"
        } else if let Some($v) = $input.downcast_mut::<op::delete_item::DeleteItemInput>() {
            $body;
            "DeleteItem"
        } else if let Some($v) = $input.downcast_mut::<op::batch_write_item::BatchWriteItemInput>()
        {
            $body;
            "BatchWriteItem"
        } else if let Some($v) =
            $input.downcast_mut::<op::transact_write_items::TransactWriteItemsInput>()
        {
            $body;
            "TransactWriteItems"
        } else {
            "other"
        }
    }};
}

/// The IAM actions (`dynamodb:` omitted) a request needs. Most operations are their own
/// action; a TransactWriteItems is authorized per item it contains (Put → PutItem,
/// Update → UpdateItem, Delete → DeleteItem, ConditionCheck → ConditionCheckItem) and a
/// TransactGetItems per Get (GetItem): IAM has no action named after either
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html>).
pub fn iam_actions(
    input: &aws_smithy_runtime_api::client::interceptors::context::Input,
) -> (Vec<&'static str>, bool) {
    use aws_sdk_dynamodb::operation as op;
    if let Some(i) = input.downcast_ref::<op::transact_write_items::TransactWriteItemsInput>() {
        let mut actions: Vec<&'static str> = i
            .transact_items()
            .iter()
            .filter_map(|t| {
                if t.put().is_some() {
                    Some("PutItem")
                } else if t.update().is_some() {
                    Some("UpdateItem")
                } else if t.delete().is_some() {
                    Some("DeleteItem")
                } else if t.condition_check().is_some() {
                    Some("ConditionCheckItem")
                } else {
                    None
                }
            })
            .collect();
        actions.sort_unstable();
        actions.dedup();
        return (actions, false);
    }
    if input
        .downcast_ref::<op::transact_get_items::TransactGetItemsInput>()
        .is_some()
    {
        return (vec!["GetItem"], false);
    }
    if let Some(i) = input.downcast_ref::<op::query::QueryInput>() {
        return (vec!["Query"], i.index_name().is_some());
    }
    if let Some(i) = input.downcast_ref::<op::scan::ScanInput>() {
        return (vec!["Scan"], i.index_name().is_some());
    }
    let single = if input.downcast_ref::<op::get_item::GetItemInput>().is_some() {
        "GetItem"
    } else if input
        .downcast_ref::<op::batch_get_item::BatchGetItemInput>()
        .is_some()
    {
        "BatchGetItem"
    } else if input.downcast_ref::<op::put_item::PutItemInput>().is_some() {
        "PutItem"
    } else if input
        .downcast_ref::<op::update_item::UpdateItemInput>()
        .is_some()
    {
        "UpdateItem"
    } else if input
        .downcast_ref::<op::delete_item::DeleteItemInput>()
        .is_some()
    {
        "DeleteItem"
    } else if input
        .downcast_ref::<op::batch_write_item::BatchWriteItemInput>()
        .is_some()
    {
        "BatchWriteItem"
    } else {
        "unknown"
    };
    (vec![single], false)
}

/// The capacity units an operation's output reports.
pub(crate) fn consumed(
    output: &aws_smithy_runtime_api::client::interceptors::context::Output,
) -> f64 {
    use aws_sdk_dynamodb::operation as op;
    use aws_sdk_dynamodb::types::ConsumedCapacity;
    let one = |c: Option<&ConsumedCapacity>| c.and_then(|c| c.capacity_units()).unwrap_or(0.0);
    let many = |c: &[ConsumedCapacity]| c.iter().filter_map(|c| c.capacity_units()).sum::<f64>();
    if let Some(o) = output.downcast_ref::<op::get_item::GetItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::query::QueryOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::scan::ScanOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::batch_get_item::BatchGetItemOutput>() {
        many(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::transact_get_items::TransactGetItemsOutput>()
    {
        many(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::put_item::PutItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::update_item::UpdateItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::delete_item::DeleteItemOutput>() {
        one(o.consumed_capacity())
    } else if let Some(o) = output.downcast_ref::<op::batch_write_item::BatchWriteItemOutput>() {
        many(o.consumed_capacity())
    } else if let Some(o) =
        output.downcast_ref::<op::transact_write_items::TransactWriteItemsOutput>()
    {
        many(o.consumed_capacity())
    } else {
        0.0
    }
}

pub(crate) fn is_read(operation: &str) -> bool {
    matches!(
        operation,
        "GetItem" | "Query" | "Scan" | "BatchGetItem" | "TransactGetItems"
    )
}

impl aws_sdk_dynamodb::config::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn modify_before_serialization(
        &self,
        ctx: &mut aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut<
            '_,
        >,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
        let input = ctx.input_mut();
        let operation = each_input!(input, i => i.return_consumed_capacity = Some(ReturnConsumedCapacity::Total));
        let (iam, index) = iam_actions(input);
        let mut calls = self.lock();
        cfg.interceptor_state().store_put(CallIndex(calls.len()));
        calls.push(Call {
            operation,
            start: Instant::now(),
            end: None,
            rcu: 0.0,
            wcu: 0.0,
            iam,
            index,
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let end = Instant::now();
        let units = match ctx.output_or_error() {
            Some(Ok(output)) => consumed(output),
            _ => 0.0,
        };
        if let Some(CallIndex(i)) = cfg.load::<CallIndex>().copied()
            && let Some(call) = self.lock().get_mut(i)
        {
            call.end = Some(end);
            if is_read(call.operation) {
                call.rcu = units;
            } else {
                call.wcu = units;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(start_ms: u64, end_ms: u64, base: Instant) -> Call {
        Call {
            operation: "GetItem",
            start: base + Duration::from_millis(start_ms),
            end: Some(base + Duration::from_millis(end_ms)),
            rcu: 1.0,
            wcu: 0.0,
            iam: vec!["GetItem"],
            index: false,
        }
    }

    #[test]
    fn overlapping_calls_count_once_and_sequential_ones_each() {
        let t = Instant::now();
        // Two reads in flight together, then a transaction after both: two rounds.
        assert_eq!(depth(&[call(0, 5, t), call(1, 4, t), call(6, 9, t)]), 2);
        // A chain of overlaps is one round, whatever the order they are listed in.
        assert_eq!(depth(&[call(4, 8, t), call(0, 5, t), call(7, 9, t)]), 1);
        assert_eq!(depth(&[call(0, 1, t), call(2, 3, t), call(4, 5, t)]), 3);
        assert_eq!(depth(&[]), 0);
    }
}
