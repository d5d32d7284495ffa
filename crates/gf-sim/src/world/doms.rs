//! What the world keeps per NVLink domain, packed so that a run starting or
//! ending touches one cache line per domain it holds: a 20M-GPU fleet has
//! 277,800 domains, a gang of 65,536 GPUs spans 911 of them, and a year
//! starts and ends millions of runs, each touching every domain it holds
//! twice. The runs on a domain are kept in it, in the order they arrived
//! (the order a GPU's failure is matched to its run by), as the slots of
//! the world's run table: a few inline, more in a side arena, which only a
//! domain shared by many small runs needs.

use super::table::Slot;

/// Runs a domain lists inline; a domain with more spills to the arena.
const INLINE: usize = 6;

/// `Dom::len` when the domain's runs are in the arena.
const SPILLED: u8 = u8::MAX;

/// What the world knows of one NVLink domain. 32 bytes, aligned to 32: it
/// never straddles two cache lines, and two neighbours share one.
#[derive(Debug, Clone, Default)]
#[repr(C, align(32))]
pub(crate) struct Dom {
    /// GPUs in use.
    pub used: u32,
    /// Reasons it is down (failures, outages, reclaims).
    pub down: u16,
    /// Brought online by the ramp.
    pub built: bool,
    /// Runs listed inline, or [`SPILLED`]: then `inline[0]` is the index
    /// of its list in the arena.
    len: u8,
    /// The slots of the runs on it, in the order they arrived. A job (or
    /// replica set) has one run at a time here, and a restart in place
    /// takes its ghost's slot over (see [`super::ghosts`]), so a gang
    /// restarted in place keeps its domains without touching them.
    inline: [Slot; INLINE],
}

/// The lists of runs of domains with more than fit inline. A list freed
/// keeps its buffer for the next domain that spills.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spill {
    lists: Vec<Vec<Slot>>,
    free: Vec<u32>,
}

impl Dom {
    /// The runs on it, in the order they arrived.
    pub(crate) fn runs<'a>(&'a self, spill: &'a Spill) -> &'a [Slot] {
        if self.len == SPILLED {
            &spill.lists[self.inline[0] as usize]
        } else {
            &self.inline[..self.len as usize]
        }
    }

    /// The `k`th run on it.
    pub(crate) fn run_at(&self, spill: &Spill, k: usize) -> Option<Slot> {
        self.runs(spill).get(k).copied()
    }

    /// Lists run `s` last.
    pub(crate) fn push(&mut self, spill: &mut Spill, s: Slot) {
        let n = self.len as usize;
        if n < INLINE {
            self.inline[n] = s;
            self.len += 1;
            return;
        }
        if self.len != SPILLED {
            let i = match spill.free.pop() {
                Some(i) => i,
                None => {
                    spill.lists.push(Vec::new());
                    (spill.lists.len() - 1) as u32
                }
            };
            let v = &mut spill.lists[i as usize];
            v.extend_from_slice(&self.inline);
            self.inline[0] = i;
            self.len = SPILLED;
        }
        spill.lists[self.inline[0] as usize].push(s);
    }

    /// Takes the `k`th run off it; the others keep their order.
    pub(crate) fn remove_at(&mut self, spill: &mut Spill, k: usize) {
        if self.len != SPILLED {
            let n = self.len as usize;
            self.inline.copy_within(k + 1..n, k);
            self.len -= 1;
            return;
        }
        let i = self.inline[0];
        let v = &mut spill.lists[i as usize];
        v.remove(k);
        if v.len() <= INLINE {
            // Back inline: the list's buffer goes to the next spill.
            self.len = v.len() as u8;
            self.inline[..v.len()].copy_from_slice(v);
            v.clear();
            spill.free.push(i);
        }
    }

    /// Takes run `s` off it, if it is listed.
    pub(crate) fn unlist(&mut self, spill: &mut Spill, s: Slot) {
        if let Some(k) = self.runs(spill).iter().position(|&x| x == s) {
            self.remove_at(spill, k);
        }
    }

    /// Moves run `s` to the end of its list, as if it arrived now.
    pub(crate) fn relist_last(&mut self, spill: &mut Spill, s: Slot) {
        if let Some(k) = self.runs(spill).iter().position(|&x| x == s) {
            self.remove_at(spill, k);
            self.push(spill, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_keeps_its_runs_in_order_inline_and_spilled() {
        assert_eq!(std::mem::size_of::<Dom>(), 32);
        let mut spill = Spill::default();
        let mut d = Dom::default();
        let mut want: Vec<Slot> = Vec::new();
        for s in 0..20 {
            d.push(&mut spill, s);
            want.push(s);
            assert_eq!(d.runs(&spill), &want[..]);
        }
        for s in [3, 0, 19, 7, 8, 9, 10, 11, 12, 13] {
            d.unlist(&mut spill, s);
            want.retain(|&x| x != s);
            assert_eq!(d.runs(&spill), &want[..]);
        }
        d.relist_last(&mut spill, 1);
        want.retain(|&x| x != 1);
        want.push(1);
        assert_eq!(d.runs(&spill), &want[..]);
        while !want.is_empty() {
            d.remove_at(&mut spill, 0);
            want.remove(0);
            assert_eq!(d.runs(&spill), &want[..]);
        }
        // The spilled list's buffer waits for the next domain to spill.
        assert_eq!(spill.free.len(), 1);
        d.unlist(&mut spill, 5);
        assert!(d.runs(&spill).is_empty());
    }
}
