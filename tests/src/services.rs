//! The shared services (DynamoDB Local, the SES emulator) and a DynamoDB Local of one stack's own.

use super::*;

pub(crate) struct Services {
    pub(crate) dynamodb: String,
    pub(crate) ses: String,
    _running: Vec<Service>,
}

pub(crate) static SERVICES: OnceLock<Services> = OnceLock::new();

pub(crate) fn services() -> &'static Services {
    SERVICES.get_or_init(|| {
        let mut running = Vec::new();
        let dynamodb = match std::env::var("E2E_DYNAMODB_ENDPOINT") {
            Ok(e) => e,
            Err(_) => {
                let modules = xtask::services::ensure_node_tools().expect("node tools");
                let s = xtask::services::start_dynamodb(&modules, xtask::free_port().unwrap())
                    .expect("DynamoDB Local");
                let e = s.endpoint();
                running.push(s);
                e
            }
        };
        let ses = match std::env::var("E2E_SES_ENDPOINT") {
            Ok(e) => e,
            Err(_) => {
                let modules = xtask::services::ensure_node_tools().expect("node tools");
                let s = xtask::services::start_ses(&modules, xtask::free_port().unwrap())
                    .expect("SES emulator");
                let e = s.endpoint();
                running.push(s);
                e
            }
        };
        Services {
            dynamodb,
            ses,
            _running: running,
        }
    })
}
/// A DynamoDB Local started for one stack only.
pub struct OwnDynamoDb(pub(crate) Arc<Service>);

impl OwnDynamoDb {
    /// SIGSTOP: the process keeps its port open (connections are accepted by the
    /// kernel) but answers nothing, like a storage that stopped responding.
    pub fn pause(&self) {
        self.0.signal("STOP").unwrap();
    }

    /// SIGCONT: it answers again, including the requests that queued meanwhile.
    pub fn resume(&self) {
        self.0.signal("CONT").unwrap();
    }

    /// [`OwnDynamoDb::pause`], as a function a [`WriteFault`] can call.
    pub fn pauser(&self) -> impl FnOnce() + Send + 'static {
        let own = self.0.clone();
        move || own.signal("STOP").unwrap()
    }
}

impl Drop for OwnDynamoDb {
    fn drop(&mut self) {
        // A stopped process would not see its guard's SIGTERM.
        let _ = self.0.signal("CONT");
    }
}
