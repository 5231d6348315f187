//! The chaos run: the real `site-agent` binary against waldur-sim and croit-sim, killed with
//! SIGKILL at random instants while Waldur loses answers, refuses calls and times out. After
//! every iteration the agent is restarted until the marketplace is quiet, and the invariants
//! an operator relies on are checked (see [`check`]).
//!
//! One world lives through all iterations (resources are created, updated, terminated,
//! restored, their keys rotated, their usage billed), so later iterations meet what earlier
//! crashes left behind. Each iteration has its own seed, printed on failure, so it can be
//! replayed with `--seed S --first I --iterations 1` (the world is rebuilt by replaying the
//! iterations before it with the same seeds).

pub mod agent;
pub mod check;
pub mod rng;
pub mod storage;
pub mod world;

pub use agent::Agent;
pub use rng::Rng;
pub use world::World;
