//! The in-process bus for `yimen standalone` and tests: the topology and at-least-once
//! semantics of the RabbitMQ backend (topic bindings, per-queue FIFO, prefetch, manual acks,
//! delayed retries, delivery limit, dead-letter queues), held in memory. A delivery given back
//! for a later retry waits `bus.retry_delay_ms` on a timer task, then joins the end of its
//! queue, as a message leaving the RabbitMQ retry queue does.
//!
//! The state sits behind one `std::sync::Mutex` that is never held across an `.await`: the
//! critical sections are a few map operations, and an unsettled delivery or a dropped
//! subscription must hand its messages back from `Drop`, where nothing can be awaited.
//! Waiting consumers park on a per-queue `tokio::sync::Notify`.
//!
//! `MemoryBus::durable` adds a journal (`journal.rs`): what the queues hold survives a
//! restart of standalone, so an event the outbox handed over is never lost with the process.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::journal::Journal;
use super::{
    Acker, Bus, BusConfig, BusError, Delivery, EVENTS_EXCHANGE, Message, Published, QueueSpec,
    Retry, Subscription, topic_matches,
};

/// AMQP short strings (routing keys, message ids, header names) hold at most this many bytes;
/// the in-process bus refuses what RabbitMQ would refuse, so standalone finds the same bugs.
const MAX_SHORT_STRING: usize = 255;

/// The in-process bus. Cheap to share behind an `Arc<dyn Bus>`; every subscription and
/// delivery keeps the state alive on its own.
pub struct MemoryBus {
    shared: Arc<Shared>,
}

struct Shared {
    config: BusConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    closed: bool,
    /// By full name (prefix included), dead-letter queues among them.
    queues: HashMap<String, Queue>,
    next_seq: u64,
    next_tag: u64,
    next_consumer: u64,
    /// Present for a durable bus: every put and every final settlement is written to it.
    journal: Option<Journal>,
}

struct Queue {
    /// Patterns bound on the events exchange; empty for a dead-letter queue.
    bindings: Vec<String>,
    ready: VecDeque<Stored>,
    /// Delivered and not settled, by delivery tag.
    unacked: HashMap<u64, Unacked>,
    /// Unacked deliveries held by each live subscription, for the prefetch limit.
    consumers: HashMap<u64, usize>,
    /// Where a rejected or exhausted message goes; None for a dead-letter queue (dropped).
    dead_letter: Option<String>,
    /// None: returned messages come back forever (RabbitMQ's default for the dead queue).
    delivery_limit: Option<u32>,
    notify: Arc<Notify>,
}

impl Queue {
    fn new(dead_letter: Option<String>, delivery_limit: Option<u32>) -> Self {
        Self {
            bindings: Vec::new(),
            ready: VecDeque::new(),
            unacked: HashMap::new(),
            consumers: HashMap::new(),
            dead_letter,
            delivery_limit,
            notify: Arc::new(Notify::new()),
        }
    }
}

struct Stored {
    /// Publish order, so returned messages go back in the order they were taken.
    seq: u64,
    message: Message,
    /// Unsuccessful deliveries so far (RabbitMQ quorum queues' `x-delivery-count`); starts
    /// again when the message is retried later, as a republished message's count does.
    delivery_count: u32,
    /// Deliveries retried later so far (the AMQP backend's attempts header).
    attempts: u32,
}

struct Unacked {
    consumer: u64,
    stored: Stored,
}

/// How a delivery was settled.
#[derive(Clone, Copy)]
enum Settle {
    Ack,
    /// Back to the head of the queue, counting a delivery attempt.
    Return,
    /// Straight to the dead-letter queue.
    Reject,
    /// Back to the end of the queue after the retry delay, counting an attempt.
    Later,
}

/// Why a message was dead-lettered, as RabbitMQ writes it in `x-first-death-reason`.
#[derive(Clone, Copy)]
enum DeathReason {
    Rejected,
    DeliveryLimit,
}

impl DeathReason {
    fn as_str(self) -> &'static str {
        match self {
            DeathReason::Rejected => "rejected",
            DeathReason::DeliveryLimit => "delivery_limit",
        }
    }
}

enum Take {
    Got(Delivery),
    Wait,
    Ended,
}

impl MemoryBus {
    pub fn new(config: BusConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// An in-process bus whose queues are journaled to `path` and refilled from it on open.
    pub fn durable(config: BusConfig, path: &std::path::Path) -> Result<Self, BusError> {
        let (journal, replayed) = Journal::open(path)
            .map_err(|e| BusError::Unavailable(format!("bus journal {}: {e}", path.display())))?;
        let mut state = State::default();
        for r in replayed {
            state.next_seq = state.next_seq.max(r.seq);
            let dead = super::dead_letter_queue(&r.queue);
            let queue = if r.queue.ends_with(".dead") {
                state
                    .queues
                    .entry(r.queue)
                    .or_insert_with(|| Queue::new(None, None))
            } else {
                state
                    .queues
                    .entry(dead.clone())
                    .or_insert_with(|| Queue::new(None, None));
                state
                    .queues
                    .entry(r.queue)
                    .or_insert_with(|| Queue::new(Some(dead), Some(config.delivery_limit)))
            };
            queue.ready.push_back(Stored {
                seq: r.seq,
                message: r.message,
                delivery_count: 0,
                attempts: 0,
            });
        }
        state.journal = Some(journal);
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(state),
            }),
        })
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before it can panic, so a
        // poisoned lock still guards valid data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn queue_name(&self, name: &str) -> String {
        format!("{}{name}", self.config.prefix)
    }

    fn dead_letter_name(&self, name: &str) -> String {
        self.queue_name(&super::dead_letter_queue(name))
    }

    /// Declares the dead-letter queue of `name` (idempotent) and answers its full name.
    fn declare_dead_letters(&self, state: &mut State, name: &str) -> String {
        let dead = self.dead_letter_name(name);
        state
            .queues
            .entry(dead.clone())
            .or_insert_with(|| Queue::new(None, None));
        dead
    }

    fn declare(&self, state: &mut State, spec: &QueueSpec) -> String {
        let dead = self.declare_dead_letters(state, &spec.name);
        let full = self.queue_name(&spec.name);
        let queue = state
            .queues
            .entry(full.clone())
            .or_insert_with(|| Queue::new(Some(dead), Some(self.config.delivery_limit)));
        // Bindings only accumulate, as on the broker: declaring never unbinds.
        for pattern in &spec.bindings {
            if !queue.bindings.contains(pattern) {
                queue.bindings.push(pattern.clone());
            }
        }
        full
    }

    fn subscription(self: &Arc<Self>, state: &mut State, queue: String) -> Box<dyn Subscription> {
        state.next_consumer += 1;
        let consumer = state.next_consumer;
        let notify = match state.queues.get_mut(&queue) {
            Some(q) => {
                q.consumers.insert(consumer, 0);
                q.notify.clone()
            }
            // Both callers declare the queue first under the same lock.
            None => Arc::new(Notify::new()),
        };
        Box::new(MemorySubscription {
            shared: self.clone(),
            queue,
            consumer,
            notify,
        })
    }

    fn try_take(self: &Arc<Self>, queue_name: &str, consumer: u64) -> Take {
        let mut state = self.lock();
        if state.closed {
            return Take::Ended;
        }
        let prefetch = usize::from(self.config.prefetch());
        let tag = state.next_tag + 1;
        let Some(queue) = state.queues.get_mut(queue_name) else {
            return Take::Ended;
        };
        let Some(held) = queue.consumers.get(&consumer).copied() else {
            return Take::Ended;
        };
        // Prefetch 0 means unlimited, as in AMQP.
        if prefetch != 0 && held >= prefetch {
            return Take::Wait;
        }
        let Some(stored) = queue.ready.pop_front() else {
            return Take::Wait;
        };
        queue.consumers.insert(consumer, held + 1);
        let message = stored.message.clone();
        let redelivered = stored.delivery_count > 0;
        let attempts = stored.attempts;
        queue.unacked.insert(tag, Unacked { consumer, stored });
        state.next_tag = tag;
        let acker = MemoryAcker {
            shared: self.clone(),
            queue: queue_name.to_string(),
            tag,
            settled: AtomicBool::new(false),
        };
        Take::Got(Delivery::new(message, redelivered, Box::new(acker)).with_attempts(attempts))
    }

    /// Settles one delivery; a retry later answers what became of it.
    fn settle(
        self: &Arc<Self>,
        queue_name: &str,
        tag: u64,
        how: Settle,
    ) -> Result<Option<Retry>, BusError> {
        let mut state = self.lock();
        if state.closed {
            return Err(BusError::Unavailable("the bus is closed".into()));
        }
        let Some(queue) = state.queues.get_mut(queue_name) else {
            return Err(BusError::Other("the delivery's queue is gone".into()));
        };
        let Some(Unacked { consumer, stored }) = queue.unacked.remove(&tag) else {
            // Its subscription ended and gave it back already (like a closed AMQP channel).
            return Err(BusError::Unavailable(
                "the delivery's subscription has ended; the message was given back".into(),
            ));
        };
        if let Some(held) = queue.consumers.get_mut(&consumer) {
            *held = held.saturating_sub(1);
        }
        queue.notify.notify_waiters();
        match how {
            Settle::Ack => {
                if let Some(journal) = state.journal.as_mut() {
                    journal.done(queue_name, stored.seq);
                }
            }
            Settle::Return => self.give_back(&mut state, queue_name, vec![stored]),
            Settle::Reject => {
                self.dead_letter(&mut state, queue_name, stored, DeathReason::Rejected)
            }
            Settle::Later => return Ok(Some(self.retry_later(&mut state, queue_name, stored))),
        }
        Ok(None)
    }

    /// Counts an attempt; past the delivery limit the message goes to the dead letters,
    /// otherwise a timer puts it at the end of its queue once the retry delay has passed. It
    /// stays in the journal meanwhile, so a restart delivers it again at once.
    fn retry_later(
        self: &Arc<Self>,
        state: &mut State,
        queue_name: &str,
        mut stored: Stored,
    ) -> Retry {
        stored.attempts = stored.attempts.saturating_add(1);
        stored.delivery_count = 0;
        let limit = state.queues.get(queue_name).and_then(|q| q.delivery_limit);
        if limit.is_some_and(|limit| stored.attempts > limit) {
            self.dead_letter(state, queue_name, stored, DeathReason::DeliveryLimit);
            return Retry::DeadLettered;
        }
        let shared = self.clone();
        let queue_name = queue_name.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(shared.config.retry_delay()).await;
            let mut state = shared.lock();
            if state.closed {
                return;
            }
            if let Some(queue) = state.queues.get_mut(&queue_name) {
                queue.ready.push_back(stored);
                queue.notify.notify_waiters();
            }
        });
        Retry::Scheduled
    }

    /// Returns messages to the head of their queue (in their original order), counting a
    /// delivery attempt each; those past the delivery limit go to the dead letters instead —
    /// RabbitMQ quorum semantics: dead-lettered once the count exceeds the limit.
    fn give_back(&self, state: &mut State, queue_name: &str, mut returned: Vec<Stored>) {
        returned.sort_by_key(|s| s.seq);
        let mut requeue = Vec::new();
        let mut exhausted = Vec::new();
        let limit = state.queues.get(queue_name).and_then(|q| q.delivery_limit);
        for mut stored in returned {
            stored.delivery_count = stored.delivery_count.saturating_add(1);
            match limit {
                Some(limit) if stored.delivery_count > limit => exhausted.push(stored),
                _ => requeue.push(stored),
            }
        }
        if let Some(queue) = state.queues.get_mut(queue_name) {
            for stored in requeue.into_iter().rev() {
                queue.ready.push_front(stored);
            }
            queue.notify.notify_waiters();
        }
        for stored in exhausted {
            self.dead_letter(state, queue_name, stored, DeathReason::DeliveryLimit);
        }
    }

    fn dead_letter(
        &self,
        state: &mut State,
        queue_name: &str,
        stored: Stored,
        reason: DeathReason,
    ) {
        if let Some(journal) = state.journal.as_mut() {
            journal.done(queue_name, stored.seq);
        }
        let Some(target) = state
            .queues
            .get(queue_name)
            .and_then(|q| q.dead_letter.clone())
        else {
            // A dead-letter queue has no dead letters of its own: the message is dropped,
            // as RabbitMQ drops a rejected message on a queue without a dead-letter exchange.
            return;
        };
        let mut message = stored.message;
        // The same headers RabbitMQ adds, so an operator reads dead letters the same way on
        // both backends; "first" means an earlier death's headers are kept.
        for (key, value) in [
            ("x-first-death-reason", reason.as_str().to_string()),
            ("x-first-death-queue", queue_name.to_string()),
            (
                "x-first-death-exchange",
                format!("{}{EVENTS_EXCHANGE}", self.config.prefix),
            ),
        ] {
            message.headers.entry(key.to_string()).or_insert(value);
        }
        state.next_seq += 1;
        let seq = state.next_seq;
        if let Some(journal) = state.journal.as_mut()
            && let Err(e) = journal.put(&target, seq, &message)
        {
            tracing::warn!(error = %e, "bus journal: dead letter not recorded");
        }
        if let Some(dead) = state.queues.get_mut(&target) {
            dead.ready.push_back(Stored {
                seq,
                message,
                delivery_count: 0,
                attempts: 0,
            });
            dead.notify.notify_waiters();
        }
    }

    /// A subscription ended: everything it still held goes back, marked redelivered.
    fn end_subscription(&self, queue_name: &str, consumer: u64) {
        let mut state = self.lock();
        let Some(queue) = state.queues.get_mut(queue_name) else {
            return;
        };
        queue.consumers.remove(&consumer);
        let tags: Vec<u64> = queue
            .unacked
            .iter()
            .filter(|(_, u)| u.consumer == consumer)
            .map(|(tag, _)| *tag)
            .collect();
        let returned: Vec<Stored> = tags
            .into_iter()
            .filter_map(|tag| queue.unacked.remove(&tag))
            .map(|u| u.stored)
            .collect();
        if !returned.is_empty() {
            self.give_back(&mut state, queue_name, returned);
        }
    }
}

fn check_short(what: &str, value: &str) -> Result<(), BusError> {
    if value.len() > MAX_SHORT_STRING {
        return Err(BusError::Other(format!(
            "{what} is {} bytes; AMQP allows at most {MAX_SHORT_STRING}",
            value.len()
        )));
    }
    Ok(())
}

#[async_trait]
impl Bus for MemoryBus {
    fn prefix(&self) -> &str {
        &self.shared.config.prefix
    }

    async fn publish(&self, message: &Message) -> Result<Published, BusError> {
        check_short("the routing key", &message.routing_key)?;
        check_short("the message id", &message.id)?;
        for key in message.headers.keys() {
            check_short("a header name", key)?;
        }
        let mut state = self.shared.lock();
        if state.closed {
            return Err(BusError::Unavailable("the bus is closed".into()));
        }
        state.next_seq += 1;
        let seq = state.next_seq;
        let mut routed = false;
        let State {
            queues, journal, ..
        } = &mut *state;
        for (name, queue) in queues.iter_mut() {
            // A queue bound by several matching patterns still gets one copy, as on a topic
            // exchange.
            if queue
                .bindings
                .iter()
                .any(|pattern| topic_matches(pattern, &message.routing_key))
            {
                if let Some(journal) = journal.as_mut() {
                    // Not journaled, not confirmed: the outbox publishes it again.
                    journal
                        .put(name, seq, message)
                        .map_err(|e| BusError::Nacked(format!("bus journal write failed: {e}")))?;
                }
                queue.ready.push_back(Stored {
                    seq,
                    message: message.clone(),
                    delivery_count: 0,
                    attempts: 0,
                });
                queue.notify.notify_waiters();
                routed = true;
            }
        }
        Ok(if routed {
            Published::Routed
        } else {
            Published::Unroutable
        })
    }

    async fn declare_queue(&self, spec: &QueueSpec) -> Result<(), BusError> {
        for pattern in &spec.bindings {
            check_short("a binding", pattern)?;
        }
        let mut state = self.shared.lock();
        if state.closed {
            return Err(BusError::Unavailable("the bus is closed".into()));
        }
        self.shared.declare(&mut state, spec);
        Ok(())
    }

    async fn subscribe(&self, spec: &QueueSpec) -> Result<Box<dyn Subscription>, BusError> {
        for pattern in &spec.bindings {
            check_short("a binding", pattern)?;
        }
        let mut state = self.shared.lock();
        if state.closed {
            return Err(BusError::Unavailable("the bus is closed".into()));
        }
        let queue = self.shared.declare(&mut state, spec);
        Ok(self.shared.subscription(&mut state, queue))
    }

    async fn subscribe_dead_letters(&self, queue: &str) -> Result<Box<dyn Subscription>, BusError> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(BusError::Unavailable("the bus is closed".into()));
        }
        let dead = self.shared.declare_dead_letters(&mut state, queue);
        Ok(self.shared.subscription(&mut state, dead))
    }

    async fn ping(&self) -> Result<(), BusError> {
        if self.shared.lock().closed {
            return Err(BusError::Unavailable("the bus is closed".into()));
        }
        Ok(())
    }

    async fn close(&self) {
        let mut state = self.shared.lock();
        state.closed = true;
        for queue in state.queues.values() {
            queue.notify.notify_waiters();
        }
    }
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBus")
            .field("prefix", &self.shared.config.prefix)
            .finish_non_exhaustive()
    }
}

struct MemorySubscription {
    shared: Arc<Shared>,
    queue: String,
    consumer: u64,
    notify: Arc<Notify>,
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Option<Delivery> {
        // Cancel-safe: a delivery is taken and returned in one synchronous step, so a
        // `select!` that drops this future loses nothing.
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a publish between the look and the wait still
            // wakes us.
            notified.as_mut().enable();
            match self.shared.try_take(&self.queue, self.consumer) {
                Take::Got(delivery) => return Some(delivery),
                Take::Ended => return None,
                Take::Wait => notified.await,
            }
        }
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        self.shared.end_subscription(&self.queue, self.consumer);
    }
}

struct MemoryAcker {
    shared: Arc<Shared>,
    queue: String,
    tag: u64,
    settled: AtomicBool,
}

impl MemoryAcker {
    fn settle(&self, how: Settle) -> Result<Option<Retry>, BusError> {
        if self.settled.swap(true, Ordering::AcqRel) {
            return Err(BusError::Other("the delivery was settled already".into()));
        }
        self.shared.settle(&self.queue, self.tag, how)
    }
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(&self) -> Result<(), BusError> {
        self.settle(Settle::Ack).map(drop)
    }

    async fn nack(&self, requeue: bool) -> Result<(), BusError> {
        self.settle(if requeue {
            Settle::Return
        } else {
            Settle::Reject
        })
        .map(drop)
    }

    async fn retry_later(&self, _message: &Message, _attempts: u32) -> Result<Retry, BusError> {
        self.settle(Settle::Later)
            .map(|retry| retry.unwrap_or(Retry::Scheduled))
    }
}

impl Drop for MemoryAcker {
    fn drop(&mut self) {
        // A delivery dropped unsettled (its handler panicked or was cancelled) goes back at
        // once instead of holding a prefetch slot until the subscription ends.
        if !*self.settled.get_mut() {
            let _ = self.shared.settle(&self.queue, self.tag, Settle::Return);
        }
    }
}
