//! The model, the store and the rules of the EnOS certificate service. No HTTP, no crypto.

pub mod actions;
pub mod device_methods;
pub mod errors;
pub mod fixtures;
pub mod ids;
pub mod model;
pub mod registry;
pub mod reply_codes;
pub mod rules;
pub mod serial;
pub mod store;
pub mod thing_model;
pub mod valid_days;

pub use errors::{EnosError, ErrorKey};
pub use serial::{PresentedSerial, Serial};
