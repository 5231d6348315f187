pub mod croit;
pub mod waldur;
