pub mod beacon;
pub mod fake;
pub mod wait;
