//! Holding requests of one operation until a test lets them go, so a test can
//! force the order in which concurrent requests reach Twilio instead of
//! hoping a sleep produces it.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::faults::Operation;
use crate::server::lock;

/// A hold on the next requests of one operation (see [`crate::Emulator::hold`]).
/// Dropping it lets the held requests go, so a failing test never hangs.
pub struct Hold {
    gate: Arc<Gate>,
}

impl Hold {
    /// Waits until `count` requests are being held (or were, before a release).
    pub async fn arrived(&self, count: usize) {
        let mut arrived = self.gate.arrived.subscribe();
        // The sender lives in the gate, which this hold keeps alive.
        let _ = arrived.wait_for(|n| *n >= count).await;
    }

    /// Lets every held request, and any later one this hold takes, go on.
    pub fn release(&self) {
        self.gate.released.send_replace(true);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release();
    }
}

struct Gate {
    arrived: watch::Sender<usize>,
    released: watch::Sender<bool>,
}

impl Gate {
    /// Waits here until the hold is released or the emulator stops.
    async fn pass(&self, mut shutdown: watch::Receiver<bool>) {
        self.arrived.send_modify(|n| *n += 1);
        let mut released = self.released.subscribe();
        tokio::select! {
            _ = released.wait_for(|r| *r) => {}
            _ = shutdown.wait_for(|stopped| *stopped) => {}
        }
    }
}

struct HoldRule {
    operation: Operation,
    remaining: usize,
    gate: Arc<Gate>,
}

/// The holds waiting for requests, first placed first taken.
#[derive(Default)]
pub(crate) struct HoldBook {
    rules: Mutex<Vec<HoldRule>>,
}

impl HoldBook {
    pub(crate) fn hold(&self, operation: Operation, times: usize) -> Hold {
        let gate = Arc::new(Gate {
            arrived: watch::Sender::new(0),
            released: watch::Sender::new(false),
        });
        if times > 0 {
            lock(&self.rules).push(HoldRule {
                operation,
                remaining: times,
                gate: Arc::clone(&gate),
            });
        }
        Hold { gate }
    }

    /// Holds this request when a hold is waiting for its operation.
    pub(crate) async fn wait_if_held(&self, operation: Operation, shutdown: watch::Receiver<bool>) {
        let gate = {
            let mut rules = lock(&self.rules);
            let Some(index) = rules.iter().position(|r| r.operation == operation) else {
                return;
            };
            let rule = &mut rules[index];
            rule.remaining -= 1;
            let gate = Arc::clone(&rule.gate);
            if rule.remaining == 0 {
                rules.remove(index);
            }
            gate
        };
        gate.pass(shutdown).await;
    }

    pub(crate) fn clear(&self) {
        for rule in lock(&self.rules).drain(..) {
            rule.gate.released.send_replace(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_request_waits_for_its_release_and_others_pass() {
        let book = HoldBook::default();
        let (_stop, shutdown) = watch::channel(false);
        let hold = book.hold(Operation::CreateParticipant, 1);
        // Another operation is not held.
        book.wait_if_held(Operation::FetchConversation, shutdown.clone())
            .await;
        let held = book.wait_if_held(Operation::CreateParticipant, shutdown.clone());
        tokio::pin!(held);
        tokio::select! {
            _ = &mut held => panic!("passed before the release"),
            _ = hold.arrived(1) => {}
        }
        // The hold took one request: the next passes at once.
        book.wait_if_held(Operation::CreateParticipant, shutdown.clone())
            .await;
        hold.release();
        held.await;
    }
}
