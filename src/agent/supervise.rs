//! Supervised app tasks (issue #13): an app task that panics, or ends while the agent still
//! runs, is restarted with a growing delay (1 s doubling to 5 min), its drift watch stopped
//! first; meanwhile the app says so (page, API, readiness) and `ordo_app_task_restarts_total`
//! counts it. A panic in one app never takes the agent, or any other app, down.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt as _;
use tokio::sync::watch;

use super::Mode;

const FIRST_DELAY: Duration = Duration::from_secs(1);
const LONGEST_DELAY: Duration = Duration::from_secs(300);

/// A task the supervisor restarts.
pub(super) trait Supervised {
    /// Runs until the agent stops (returns) or something goes wrong (panics or returns early).
    fn run(&mut self) -> impl Future<Output = ()> + Send;
    /// It went down for `why`; it is restarted after `delay`. Stop what it left running.
    fn went_down(&mut self, why: &str, delay: Duration);
    /// It runs again.
    fn came_back(&mut self);
}

/// Runs `task` until `mode` says Stop, restarting it whenever it goes down.
pub(super) async fn supervise<T: Supervised + Send>(mut task: T, mut mode: watch::Receiver<Mode>) {
    let mut delay = FIRST_DELAY;
    loop {
        let outcome = AssertUnwindSafe(task.run()).catch_unwind().await;
        if *mode.borrow() == Mode::Stop {
            return;
        }
        let why = match outcome {
            Ok(()) => "the app's task ended while the agent runs".to_owned(),
            Err(panic) => format!("the app's task panicked: {}", panic_message(&*panic)),
        };
        tracing::error!(error = %why, restart_in = ?delay, "app task down; restarting");
        task.went_down(&why, delay);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = mode.wait_for(|m| *m == Mode::Stop) => return,
        }
        delay = (delay * 2).min(LONGEST_DELAY);
        task.came_back();
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Panics on its first two runs, then runs until stopped.
    struct Flaky {
        runs: u32,
        mode: watch::Receiver<Mode>,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Supervised for Flaky {
        async fn run(&mut self) {
            self.runs += 1;
            self.log.lock().unwrap().push(format!("run {}", self.runs));
            if self.runs <= 2 {
                panic!("boom {}", self.runs);
            }
            let _ = self.mode.wait_for(|m| *m == Mode::Stop).await;
        }
        fn went_down(&mut self, why: &str, delay: Duration) {
            self.log
                .lock()
                .unwrap()
                .push(format!("down after {}s: {why}", delay.as_secs()));
        }
        fn came_back(&mut self) {
            self.log.lock().unwrap().push("back".into());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_restarted_with_a_growing_delay_until_the_agent_stops() {
        let (mode_tx, mode) = watch::channel(Mode::Lead);
        let log = Arc::new(Mutex::new(Vec::new()));
        let task = Flaky {
            runs: 0,
            mode: mode.clone(),
            log: log.clone(),
        };
        let supervisor = tokio::spawn(supervise(task, mode));
        // Paused time: sleeps end as soon as every task waits, so this runs the restarts.
        while log.lock().unwrap().len() < 7 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        mode_tx.send(Mode::Stop).unwrap();
        supervisor.await.unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            [
                "run 1",
                "down after 1s: the app's task panicked: boom 1",
                "back",
                "run 2",
                "down after 2s: the app's task panicked: boom 2",
                "back",
                "run 3",
            ]
        );
    }
}
