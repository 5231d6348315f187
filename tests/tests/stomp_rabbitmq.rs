//! The STOMP session against the real RabbitMQ web-stomp: delivery, acks after processing,
//! redelivery of what was not acked, reconnect after the broker drops us.

use secrecy::SecretString;
use site_agent::stomp::session::{self, Delivery, SessionConfig, SessionState};
use site_agent_sims::rmq::RmqPeer;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

fn unique(p: &str) -> String {
    format!("{p}{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

struct Fixture {
    peer: RmqPeer,
    vhost: String,
    user: String,
    queue: String,
}

async fn fixture() -> Fixture {
    let peer = RmqPeer::from_env();
    let (vhost, user, queue) = (unique("vh"), unique("u"), unique("q"));
    peer.grant(&vhost, &user, "pass-canary").await.unwrap();
    peer.declare_queue(&vhost, &queue).await.unwrap();
    Fixture {
        peer,
        vhost,
        user,
        queue,
    }
}

impl Fixture {
    fn config(&self, passcode: &str) -> SessionConfig {
        SessionConfig {
            url: self.peer.ws_url.clone(),
            vhost: self.vhost.clone(),
            login: self.user.clone(),
            passcode: SecretString::from(passcode.to_string()),
            heartbeat_ms: 1000,
            subscriptions: vec![(self.queue.clone(), format!("/amq/queue/{}", self.queue))],
            tls: None,
            backoff: site_agent::retry::Backoff {
                min: Duration::from_millis(100),
                max: Duration::from_secs(2),
            },
            name: "test".into(),
        }
    }

    fn start(
        &self,
        passcode: &str,
    ) -> (
        mpsc::Receiver<Delivery>,
        watch::Sender<bool>,
        watch::Receiver<SessionState>,
    ) {
        let (tx, rx) = mpsc::channel(16);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (state_tx, state_rx) = watch::channel(SessionState::Connecting { attempt: 0 });
        tokio::spawn(session::run(self.config(passcode), tx, stop_rx, state_tx));
        (rx, stop_tx, state_rx)
    }
}

async fn wait_for(state: &mut watch::Receiver<SessionState>, want: impl Fn(&SessionState) -> bool) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !want(&state.borrow()) {
            state.changed().await.unwrap();
        }
    })
    .await
    .expect("state not reached");
}

async fn recv(rx: &mut mpsc::Receiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no message")
        .expect("closed")
}

#[tokio::test]
async fn delivers_and_acks_and_redelivers_what_was_not_acked() {
    let f = fixture().await;
    let (mut rx, stop, mut state) = f.start("pass-canary");
    wait_for(&mut state, |s| *s == SessionState::Connected).await;
    f.peer
        .publish(&f.vhost, &f.queue, r#"{"n":1}"#)
        .await
        .unwrap();
    f.peer
        .publish(&f.vhost, &f.queue, r#"{"n":2}"#)
        .await
        .unwrap();
    let a = recv(&mut rx).await;
    assert_eq!(a.body, br#"{"n":1}"#);
    assert_eq!(
        a.subscription, f.queue,
        "RabbitMQ names the destination /queue/<q>; the subscription id is ours"
    );
    a.acker.ack();
    let b = recv(&mut rx).await;
    assert_eq!(b.body, br#"{"n":2}"#);
    drop(b); // not acknowledged: the broker must deliver it again

    // The broker drops the connection (the user is removed, then comes back); the session
    // keeps retrying, reconnects and resubscribes by itself.
    f.peer.delete_user(&f.user).await.unwrap();
    wait_for(
        &mut state,
        |s| matches!(s, SessionState::Connecting { attempt } if *attempt >= 2),
    )
    .await;
    f.peer
        .grant(&f.vhost, &f.user, "pass-canary")
        .await
        .unwrap();
    let again = recv(&mut rx).await;
    assert_eq!(
        again.body, br#"{"n":2}"#,
        "the unacknowledged message is redelivered"
    );
    again.acker.ack();
    f.peer
        .publish(&f.vhost, &f.queue, r#"{"n":3}"#)
        .await
        .unwrap();
    let c = recv(&mut rx).await;
    assert_eq!(c.body, br#"{"n":3}"#);
    c.acker.ack();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        f.peer.queue_depth(&f.vhost, &f.queue).await.unwrap(),
        0,
        "everything acknowledged"
    );
    stop.send(true).unwrap();
    wait_for(&mut state, |s| *s == SessionState::Stopped).await;
}

#[tokio::test]
async fn wrong_passcode_keeps_retrying_without_giving_up() {
    let f = fixture().await;
    let (_rx, stop, mut state) = f.start("wrong");
    wait_for(
        &mut state,
        |s| matches!(s, SessionState::Connecting { attempt } if *attempt >= 3),
    )
    .await;
    stop.send(true).unwrap();
    wait_for(&mut state, |s| *s == SessionState::Stopped).await;
}

#[tokio::test]
async fn an_absent_broker_is_waited_for() {
    let f = fixture().await;
    let mut cfg = f.config("pass-canary");
    cfg.url = "ws://127.0.0.1:9/ws".into(); // nothing listens
    let (tx, _rx) = mpsc::channel(1);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (state_tx, mut state) = watch::channel(SessionState::Connecting { attempt: 0 });
    let task = tokio::spawn(session::run(cfg, tx, stop_rx, state_tx));
    wait_for(
        &mut state,
        |s| matches!(s, SessionState::Connecting { attempt } if *attempt >= 2),
    )
    .await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}
