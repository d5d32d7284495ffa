//! Where each field of an entity was written in its file.
//!
//! The fleet specs and the scenario carry these locations so that checks made
//! after reading can point at a line and column. It is its own module so the
//! spec types and the scenario types can both hold one without either
//! depending on the other's module.

/// Where each field of an entity was written, so that checks made after
/// parsing can still point at the line and column of the offending value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locs {
    /// Byte offset of the entity's table.
    pub at: u32,
    fields: Vec<(&'static str, u32)>,
}

impl Locs {
    /// Locations starting at the table's own offset.
    pub fn new(at: u32) -> Self {
        Locs {
            at,
            fields: Vec::new(),
        }
    }

    /// Records where `field`'s value starts.
    pub fn set(&mut self, field: &'static str, offset: u32) {
        self.fields.push((field, offset));
    }

    /// Where `field`'s value starts, or the table's start when it was not written.
    pub fn of(&self, field: &str) -> u32 {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(self.at, |&(_, o)| o)
    }
}
