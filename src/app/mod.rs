//! The state the transports share around the EnOS core: the gateway, the request
//! journal, injected faults, the fixtures source and the live device sessions. HTTP
//! (`api`) and MQTT (`mqtt`) take the same `App`; nothing here knows either.

pub mod conversation;
pub mod faults;
pub mod fixtures_source;
pub mod guard;
pub mod health;
pub mod sessions;
pub mod state_view;

use std::sync::Arc;

use parking_lot::RwLock;

use crate::auth::Gateway;
use crate::clock::Clock;
use crate::domain::model::DeviceId;
use crate::domain::model::DeviceNames;
use crate::journal::Journal;
use crate::service::Service;

use faults::{Fault, FaultAction, Faults};
use fixtures_source::FixturesSource;

#[derive(Clone)]
pub struct App {
    /// The EnOS core.
    pub service: Arc<Service>,
    /// The one mock clock, which the core reads too.
    pub clock: Arc<Clock>,
    /// Gateway authentication and the token service's state.
    pub gateway: Arc<Gateway>,
    pub journal: Arc<Journal>,
    pub faults: Arc<Faults>,
    pub fixtures: Arc<RwLock<FixturesSource>>,
    /// Who may call what over HTTP: Host names, cross-origin writes, the admin token.
    pub guard: Arc<guard::Guard>,
    /// The device sessions: bound device ports and live sessions.
    pub sessions: Arc<sessions::Sessions>,
    /// Commands waiting for the device's reply.
    pub waiters: Arc<conversation::Waiters>,
}

impl App {
    /// Everything back to the loaded fixtures: state, clock, identifiers, faults,
    /// journal; issued tokens forgotten.
    pub fn reset(&self) {
        self.service.reset(&self.fixtures.read().loaded);
        self.faults.clear();
        self.journal.clear();
        self.gateway.reset();
    }

    /// Re-reads the fixtures file and resets to it. A broken file changes nothing.
    /// The roots were loaded at start-up and stay; a `ca` section is only checked.
    pub fn reload(&self) -> Result<(), fixtures_source::FixturesFileError> {
        let source = self.fixtures.read().reread(self.clock.now_ms())?;
        *self.fixtures.write() = source;
        self.reset();
        Ok(())
    }

    /// The registered fault this call (an EnOS action or `mqtt.connect`) meets, if any,
    /// counted as hit. `device` is the device the call names, if it names one validly.
    pub fn fault_for(
        &self,
        call: impl Into<FaultAction>,
        device: Option<&DeviceId>,
    ) -> Option<Fault> {
        if self.faults.is_empty() {
            return None;
        }
        let names = device.map(|device| {
            self.service
                .device_names(device)
                .unwrap_or_else(|| DeviceNames::from(device.clone()))
        });
        self.faults.take(call, names.as_ref())
    }
}
