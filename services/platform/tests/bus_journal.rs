//! The journaled in-process bus (standalone): what its queues held when the process stopped is
//! delivered again after a restart, and what was acked is not.

use std::collections::BTreeMap;
use std::time::Duration;

use yimen_platform::bus::{Bus, BusConfig, MemoryBus, Message, Published, QueueSpec};

fn message(id: &str) -> Message {
    Message {
        id: id.into(),
        routing_key: "case.registered".into(),
        body: id.as_bytes().to_vec(),
        headers: BTreeMap::from([("traceparent".to_string(), "00-x".to_string())]),
    }
}

async fn take(
    subscription: &mut Box<dyn yimen_platform::bus::Subscription>,
) -> yimen_platform::bus::Delivery {
    tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .expect("a delivery in time")
        .expect("the subscription is open")
}

#[tokio::test]
async fn journaled_bus_redelivers_unsettled_messages_after_restart_but_not_acked_ones() {
    let dir = yimen_testkit::stores::temp_dir("yimen-journal-");
    let path = dir.path().join("bus.journal");
    let spec = QueueSpec::new("yimen.dispatch", &["case.#"]);
    {
        let bus = MemoryBus::durable(BusConfig::default(), &path).unwrap();
        bus.declare_queue(&spec).await.unwrap();
        for id in ["one", "two", "three"] {
            assert_eq!(bus.publish(&message(id)).await.unwrap(), Published::Routed);
        }
        let mut subscription = bus.subscribe(&spec).await.unwrap();
        let first = take(&mut subscription).await;
        assert_eq!(first.message.id, "one");
        first.ack().await.unwrap();
        let second = take(&mut subscription).await;
        assert_eq!(second.message.id, "two");
        // The process stops with "two" in hand and "three" queued.
        std::mem::forget(second);
        std::mem::forget(subscription);
    }

    let bus = MemoryBus::durable(BusConfig::default(), &path).unwrap();
    let mut subscription = bus.subscribe(&spec).await.unwrap();
    let again = take(&mut subscription).await;
    assert_eq!(
        again.message,
        message("two"),
        "body, key and headers come back whole"
    );
    again.ack().await.unwrap();
    let third = take(&mut subscription).await;
    assert_eq!(third.message.id, "three");
    third.ack().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), subscription.next())
            .await
            .is_err(),
        "the acked message is not delivered again"
    );
}

#[tokio::test]
async fn journaled_dead_letters_survive_restart() {
    let dir = yimen_testkit::stores::temp_dir("yimen-journal-");
    let path = dir.path().join("bus.journal");
    let spec = QueueSpec::new("yimen.intake", &["case.#"]);
    let config = BusConfig {
        delivery_limit: 1,
        ..BusConfig::default()
    };
    {
        let bus = MemoryBus::durable(config.clone(), &path).unwrap();
        let mut subscription = bus.subscribe(&spec).await.unwrap();
        bus.publish(&message("poison")).await.unwrap();
        take(&mut subscription).await.nack(false).await.unwrap();
    }
    let bus = MemoryBus::durable(config, &path).unwrap();
    let mut dead = bus.subscribe_dead_letters("yimen.intake").await.unwrap();
    assert_eq!(take(&mut dead).await.message.id, "poison");
}
