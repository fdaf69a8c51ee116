//! Dossier state as KPI counters: the due date in force, whether a dossier
//! was resolved on time, and when it is open, not yet due, due soon or
//! overdue. Built from a dossier's whole event history, in event-time
//! order whatever the arrival order, so a late `accepted` or
//! `supplement_received` still gives the right answer.

use super::fold::Breakdown;
use crate::keys::{KeyTable, str_key};
use crate::units::UnitRegistry;
use chrono::{DateTime, FixedOffset};
use model::calendar::{DAY_MINUTES, WorkCalendar};
use model::{Channel, DossierStatus as S, Event, EventKind};

/// Dossier facts by dense unit index and packed breakdown value.
pub type FactsMap = crate::keys::FastMap<(u32, u64), UnitFacts>;

/// A state counter over a time span `[start, end)` of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub counter: &'static str,
    pub start: i64,
    pub end: i64,
}

/// What the dossiers of one unit contribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFacts {
    /// Times (Unix seconds) at which a dossier was resolved on time.
    pub resolved_on_time: Vec<i64>,
    /// (time resolved, working minutes from accepted to resolved).
    pub processing: Vec<(i64, i64)>,
    pub spans: Vec<Span>,
}

/// "Not seen yet" for the event times of a [`History`].
const NEVER: i64 = i64::MAX;

/// One dossier's history so far, in event-time terms whatever the arrival
/// order: the earliest time of each milestone and every due date it was
/// given. 88 bytes with its id inline (ids up to 22 bytes), so that a
/// national backlog fits in memory. Laid out in this order (`repr(C)`),
/// so that [`History::touch`] knows which fields come first and last.
#[derive(Debug, Clone)]
#[repr(C)]
struct History {
    /// The procedure code packed into 8 bytes (the contract's codes are
    /// exactly 8 ASCII characters); 0 when not seen.
    procedure: u64,
    accepted: i64,
    finished: i64,
    resolved: i64,
    /// (event time, due date) of `accepted` and `supplement_received`.
    dues: Dues,
    /// The channel of the `accepted` event (of any event until then).
    channel: Option<Channel>,
    channel_from_accepted: bool,
    /// The newest event time seen before any acceptance, in seconds since
    /// [`SEEN_EPOCH`] (fits the struct's padding): a history with no
    /// acceptance is dropped by compaction once this is behind the cut.
    seen: u32,
    id: Id,
}

/// 2020-01-01T00:00:00Z: the origin of [`History::seen`].
const SEEN_EPOCH: i64 = 1_577_836_800;

fn seen_since_epoch(t: i64) -> u32 {
    u32::try_from(t.saturating_sub(SEEN_EPOCH).max(0)).unwrap_or(u32::MAX)
}

/// A dossier id, inline when it is short (the common case), so that a
/// dossier costs no second allocation.
#[derive(Debug, Clone)]
enum Id {
    Inline(u8, [u8; 22]),
    Heap(Box<str>),
}

impl Id {
    fn new(s: &str) -> Self {
        let b = s.as_bytes();
        if b.len() <= 22 {
            let mut bytes = [0u8; 22];
            bytes[..b.len()].copy_from_slice(b);
            Id::Inline(b.len() as u8, bytes)
        } else {
            Id::Heap(s.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Id::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Id::Heap(s) => s.as_bytes(),
        }
    }

    fn is(&self, s: &str) -> bool {
        self.as_bytes() == s.as_bytes()
    }

    fn as_str(&self) -> &str {
        // Built from a whole `&str`, so always valid UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

/// In [`Dues`], in place of a due date: a supplement was requested.
const PAUSE: i64 = i64::MIN;
/// In [`Dues`], in place of a due date: the supplement was received and
/// the sender gave no new due date.
const RESUME: i64 = i64::MIN + 1;

/// Due-date changes; nearly every dossier has exactly one, kept inline
/// (`first.0 == NEVER` when there is none). Supplement requests and
/// receptions without a new date are kept as [`PAUSE`] and [`RESUME`].
#[derive(Debug, Clone)]
struct Dues {
    first: (i64, i64),
    /// Later changes (a supplement received), rare: a thin pointer keeps
    /// every other dossier 16 bytes smaller than an inline `Vec` would.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<(i64, i64)>>>,
}

impl Default for Dues {
    fn default() -> Self {
        Self {
            first: (NEVER, NEVER),
            more: None,
        }
    }
}

impl Dues {
    fn push(&mut self, d: (i64, i64)) {
        if self.first.0 == NEVER {
            self.first = d;
        } else {
            self.more.get_or_insert_with(Box::default).push(d);
        }
    }

    /// The due dates in force from each change on, in time order: a
    /// supplement received without a new date moves the date in force by
    /// the working time between the latest request and the reception (the
    /// clock stops meanwhile); a date sent with the reception replaces it.
    fn resolved(&self, calendar: &WorkCalendar) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        self.resolved_into(calendar, &mut out);
        out
    }

    /// [`Self::resolved`] into `out`, whatever it held.
    fn resolved_into(&self, calendar: &WorkCalendar, out: &mut Vec<(i64, i64)>) {
        out.clear();
        out.extend(self.iter());
        out.sort_unstable();
        // In place: each change gives at most one date in force, written
        // at or before its own position.
        let mut kept = 0usize;
        let mut paused_at = None;
        for read in 0..out.len() {
            let (t, d) = out[read];
            match d {
                PAUSE => paused_at = Some(t),
                RESUME => {
                    if let (Some(p), Some(&(_, due))) =
                        (paused_at.take(), kept.checked_sub(1).map(|i| &out[i]))
                    {
                        let stopped = calendar.working_minutes_between(local(p), local(t));
                        let moved = calendar.add_working_minutes(local(due), stopped.max(0));
                        out[kept] = (t, moved.timestamp());
                        kept += 1;
                    }
                }
                due => {
                    out[kept] = (t, due);
                    kept += 1;
                    paused_at = None;
                }
            }
        }
        out.truncate(kept);
    }

    fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        let more: &[(i64, i64)] = self.more.as_deref().map_or(&[], Vec::as_slice);
        (self.first.0 != NEVER)
            .then_some(self.first)
            .into_iter()
            .chain(more.iter().copied())
    }
}

/// A short code (a procedure code, a channel) packed into 8 bytes (0 for
/// none or one too long): the breakdown value of partial sums and facts.
pub(crate) fn pack_code(code: &str) -> u64 {
    let b = code.as_bytes();
    if b.len() > 8 || b.is_empty() {
        return 0;
    }
    let mut out = [0u8; 8];
    out[..b.len()].copy_from_slice(b);
    // Big-endian: packed codes order as their text, so rows broken down by
    // procedure or channel come out in code order.
    u64::from_be_bytes(out)
}

/// The code of [`pack_code`].
pub(crate) fn unpack_code(packed: u64) -> Option<String> {
    if packed == 0 {
        return None;
    }
    let bytes = packed.to_be_bytes();
    let len = bytes.iter().position(|b| *b == 0).unwrap_or(8);
    std::str::from_utf8(&bytes[..len]).ok().map(str::to_owned)
}

impl History {
    fn new(id: &str) -> Self {
        Self {
            channel: None,
            channel_from_accepted: false,
            procedure: 0,
            accepted: NEVER,
            finished: NEVER,
            resolved: NEVER,
            dues: Dues::default(),
            id: Id::new(id),
            seen: 0,
        }
    }

    fn add(&mut self, e: &Event, status: S) {
        let t = e.occurred_at.timestamp();
        // Only a history with no acceptance is judged by it.
        if self.accepted == NEVER {
            self.seen = self.seen.max(seen_since_epoch(t));
        }
        if self.procedure == 0
            && let Some(p) = &e.procedure_code
        {
            self.procedure = pack_code(p);
        }
        if status == S::Accepted && e.channel.is_some() {
            self.channel = e.channel;
            self.channel_from_accepted = true;
        } else if self.channel.is_none() {
            self.channel = e.channel;
        }
        match status {
            S::Accepted => {
                self.accepted = self.accepted.min(t);
                if let Some(d) = e.due_at {
                    self.dues.push((t, d.timestamp()));
                }
            }
            // The clock stops while the citizen completes the dossier: a
            // supplement received without a new due date moves the one in
            // force by the working time since the request (`Dues::resolved`).
            S::SupplementRequested => self.dues.push((t, PAUSE)),
            S::SupplementReceived => {
                let due = e.due_at.map_or(RESUME, |d| d.timestamp());
                self.dues.push((t, due));
            }
            S::Resolved => {
                self.resolved = self.resolved.min(t);
                self.finished = self.finished.min(t);
            }
            S::Withdrawn | S::Stopped | S::Refused => self.finished = self.finished.min(t),
            _ => {}
        }
    }

    fn merge(&mut self, other: History) {
        self.seen = self.seen.max(other.seen);
        if self.procedure == 0 {
            self.procedure = other.procedure;
        }
        if other.channel_from_accepted || self.channel.is_none() {
            self.channel = other.channel.or(self.channel);
            self.channel_from_accepted |= other.channel_from_accepted;
        }
        self.accepted = self.accepted.min(other.accepted);
        self.finished = self.finished.min(other.finished);
        self.resolved = self.resolved.min(other.resolved);
        for d in other.dues.iter() {
            self.dues.push(d);
        }
    }

    /// Read the first field, the id's tag and the id's last byte
    /// ([`Dossiers::touch_history`]): a history is 88 bytes at an 88-byte
    /// stride, so it lies in two or three cache lines, and reads at its
    /// start, 64 bytes on and its end fall in each of them.
    fn touch(&self) -> u64 {
        let id = match &self.id {
            Id::Inline(len, bytes) => u64::from(*len) ^ u64::from(bytes[21]),
            Id::Heap(_) => 1,
        };
        self.procedure ^ id
    }

    fn seen(t: i64) -> Option<i64> {
        (t != NEVER).then_some(t)
    }

    /// The dossier's value of `breakdown`, packed ([`pack_code`]).
    fn dim(&self, breakdown: Breakdown) -> u64 {
        match breakdown {
            Breakdown::None => 0,
            Breakdown::Procedure => self.procedure,
            Breakdown::Channel => self.channel.map_or(0, |c| pack_code(c.as_str())),
        }
    }

    /// Whether compaction at `cut` takes this history: accepted and
    /// finished before `cut` (its facts are final), or never accepted and
    /// not seen since `cut` (it has no facts: a dossier refused or
    /// withdrawn before acceptance, or a late rating or payment of a
    /// dossier already folded away).
    fn done_before(&self, cut: i64) -> bool {
        if self.accepted == NEVER {
            return i64::from(self.seen) + SEEN_EPOCH < cut;
        }
        self.finished != NEVER && self.finished < cut
    }
}

/// Every dossier's history, keyed by (unit, dossier id) and held per unit
/// (by the unit's dense index), so that a subtree's dossiers are found
/// without looking at the others. Events may come in any order and in any
/// number of pieces: [`Dossiers::add`] and [`Dossiers::merge`] give the
/// same state whatever the order, which is what lets workers fold separate
/// parts of an input.
#[derive(Debug, Clone, Default)]
pub struct Dossiers {
    /// Per unit: dossiers keyed by the 64-bit hash of their id.
    by_unit: Vec<KeyTable<History>>,
    /// Dossiers whose id hash collided with another's of the same unit
    /// (a few in billions), by unit.
    overflow: Vec<(u32, History)>,
}

impl Dossiers {
    fn unit_mut(&mut self, unit: u32) -> &mut KeyTable<History> {
        let i = unit as usize;
        if self.by_unit.len() <= i {
            self.by_unit.resize_with(i + 1, KeyTable::default);
        }
        &mut self.by_unit[i]
    }

    /// The history of dossier `id` of `unit`, created if new.
    fn slot(&mut self, unit: u32, id: &str) -> &mut History {
        self.slot_keyed(unit, str_key(id), id)
    }

    /// [`Self::slot`] with the id's [`str_key`] given.
    fn slot_keyed(&mut self, unit: u32, key: u64, id: &str) -> &mut History {
        self.unit_mut(unit);
        // One probe of the unit's table; the overflow list is a separate
        // field, so it can be borrowed when the probe finds another id.
        let (by_unit, overflow) = (&mut self.by_unit, &mut self.overflow);
        let h = by_unit[unit as usize].get_or_insert_with(key, || History::new(id));
        if h.id.is(id) {
            return h;
        }
        let i = match overflow.iter().position(|(u, h)| *u == unit && h.id.is(id)) {
            Some(i) => i,
            None => {
                overflow.push((unit, History::new(id)));
                overflow.len() - 1
            }
        };
        &mut overflow[i].1
    }

    /// Every history of `unit`.
    fn of_unit(&self, unit: usize) -> impl Iterator<Item = &History> {
        self.by_unit
            .get(unit)
            .into_iter()
            .flat_map(|m| m.values())
            .chain(
                self.overflow
                    .iter()
                    .filter(move |(u, _)| *u as usize == unit)
                    .map(|(_, h)| h),
            )
    }

    fn units(&self) -> usize {
        self.by_unit.len().max(
            self.overflow
                .iter()
                .map(|(u, _)| *u as usize + 1)
                .max()
                .unwrap_or(0),
        )
    }

    /// Fold one event in; anything but a dossier event of a known unit is
    /// ignored.
    pub fn add(&mut self, e: &Event, units: &UnitRegistry) {
        if let Some(index) = dossier_unit(e, units) {
            self.add_at(index, e);
        }
    }

    /// [`Self::add`] for a dossier event of the unit at `index`.
    fn add_at(&mut self, index: u32, e: &Event) {
        if let Some(id) = e.dossier_id.as_deref() {
            self.add_keyed(index, str_key(id), e);
        }
    }

    /// [`Self::add_at`] with the [`str_key`] of the event's dossier id.
    fn add_keyed(&mut self, index: u32, key: u64, e: &Event) {
        if let (Some(id), Some(status)) = (e.dossier_id.as_deref(), e.status) {
            self.slot_keyed(index, key, id).add(e, status);
        }
    }

    /// Read the keys dossier `key`'s lookup in `unit` starts at
    /// ([`KeyTable::touch`]).
    fn touch(&self, unit: u32, key: u64) -> u64 {
        self.by_unit.get(unit as usize).map_or(0, |t| t.touch(key))
    }

    /// Read the history of dossier `key` in `unit`, or the free slot it
    /// would take ([`KeyTable::touch_value`]).
    fn touch_history(&self, unit: u32, key: u64) -> u64 {
        self.by_unit
            .get(unit as usize)
            .map_or(0, |t| t.touch_value(key, History::touch))
    }

    /// Fold another part's dossiers in. Units are independent, so large
    /// merges share them out between the cores.
    pub fn merge(&mut self, other: Dossiers) {
        let Dossiers { by_unit, overflow } = other;
        let n = by_unit.len();
        if self.by_unit.len() < n {
            self.by_unit.resize_with(n, KeyTable::default);
        }
        // Histories whose id hash collides with another id's in this unit:
        // merged one by one at the end, through the overflow list.
        let mut spilled: Vec<(u32, History)> = Vec::new();
        // The live engine merges a small part after every micro-batch: on
        // this thread. Only large merges (the batch command's) fan out.
        if by_unit.iter().map(|m| m.len()).sum::<usize>() < 50_000 {
            for (unit, (mine, theirs)) in self.by_unit.iter_mut().zip(by_unit).enumerate() {
                if !theirs.is_empty() {
                    merge_unit(unit as u32, mine, theirs, &mut spilled);
                }
            }
            for (unit, h) in spilled.into_iter().chain(overflow) {
                self.merge_one(unit, h);
            }
            return;
        }
        let workers = super::cores();
        let step = n.div_ceil(workers).max(1);
        let mut theirs = by_unit.into_iter();
        spilled = std::thread::scope(|s| {
            let handles: Vec<_> = self.by_unit[..n]
                .chunks_mut(step)
                .enumerate()
                .map(|(part, mine)| {
                    let theirs: Vec<_> = theirs.by_ref().take(mine.len()).collect();
                    s.spawn(move || {
                        let mut spilled = Vec::new();
                        for (i, (m, t)) in mine.iter_mut().zip(theirs).enumerate() {
                            merge_unit((part * step + i) as u32, m, t, &mut spilled);
                        }
                        spilled
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("a merge worker panicked"))
                .collect()
        });
        for (unit, h) in spilled.into_iter().chain(overflow) {
            self.merge_one(unit, h);
        }
    }

    fn merge_one(&mut self, unit: u32, h: History) {
        // Merging into a new history gives `h` itself.
        let slot = self.slot(unit, h.id.as_str());
        slot.merge(h);
    }

    /// The dossiers of the units `keep` admits (by dense index).
    pub fn subset(&self, keep: impl Fn(u32) -> bool) -> Dossiers {
        Dossiers {
            by_unit: self
                .by_unit
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    if keep(i as u32) {
                        m.clone()
                    } else {
                        KeyTable::default()
                    }
                })
                .collect(),
            overflow: self
                .overflow
                .iter()
                .filter(|(u, _)| keep(*u))
                .cloned()
                .collect(),
        }
    }

    /// Remove the dossiers that were accepted and finished before `cut`
    /// (Unix seconds) and return their facts, by unit and `breakdown`
    /// value. Facts depend on a dossier's earliest acceptance, its due
    /// dates up to resolution and its earliest finish, so once it finished
    /// only events older than its finish could change them: after `cut`
    /// has passed the correction horizon, the live state takes none
    /// (`Fold::compact`).
    pub fn take_finished_before(
        &mut self,
        cut: i64,
        calendar: &WorkCalendar,
        breakdown: Breakdown,
    ) -> FactsMap {
        let mut out = FactsMap::default();
        let mut soon = SoonCache::new(calendar);
        let mut take = |unit: u32, h: &History| {
            if h.accepted != NEVER {
                let f = out.entry((unit, h.dim(breakdown))).or_default();
                facts_of(h, h.accepted, &mut soon, f);
            }
        };
        for (unit, map) in self.by_unit.iter_mut().enumerate() {
            // A table that loses most of its entries is rebuilt smaller,
            // so memory follows the backlog down (`KeyTable::retain`).
            map.retain(|_, h| {
                let done = h.done_before(cut);
                if done {
                    take(unit as u32, h);
                }
                !done
            });
        }
        self.overflow.retain(|(unit, h)| {
            let done = h.done_before(cut);
            if done {
                take(*unit, h);
            }
            !done
        });
        // A history kept aside because its id hash collided with a resident
        // that is now gone takes the resident's place, so that the next
        // event for it finds it (an overflow entry always has its key taken
        // in the table by another id).
        let mut i = 0;
        while i < self.overflow.len() {
            let (unit, key) = (self.overflow[i].0, str_key(self.overflow[i].1.id.as_str()));
            if self.unit_mut(unit).contains_key(key) {
                i += 1;
            } else {
                let (_, h) = self.overflow.swap_remove(i);
                self.unit_mut(unit).insert(key, h);
            }
        }
        out.retain(|_, f| *f != UnitFacts::default());
        out
    }

    /// Dossiers known.
    pub fn len(&self) -> usize {
        self.by_unit.iter().map(|m| m.len()).sum::<usize>() + self.overflow.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The channel dossier `id` of `unit` (dense index) came in through,
    /// if its `accepted` event (or any event with a channel) was folded in.
    pub fn channel_of(&self, unit: u32, id: &str) -> Option<Channel> {
        let h = self
            .by_unit
            .get(unit as usize)
            .and_then(|m| m.get(str_key(id)))
            .filter(|h| h.id.is(id));
        let h = h.or_else(|| {
            self.overflow
                .iter()
                .find(|(u, h)| *u == unit && h.id.is(id))
                .map(|(_, h)| h)
        });
        h.and_then(|h| h.channel)
    }

    /// [`Self::into_facts_by`] keeping the histories: the tests' form, to
    /// hold the two to the same facts.
    #[cfg(test)]
    fn facts_by(&self, calendar: &WorkCalendar, breakdown: Breakdown) -> FactsMap {
        facts_of_units(
            self.units(),
            self.len(),
            |u| self.by_unit.get(u).map_or(0, |m| m.len()),
            |unit, take| self.of_unit(unit).for_each(take),
            calendar,
            breakdown,
        )
    }

    /// Every dossier's facts, grouped by unit and by the dossier's packed
    /// `breakdown` value (its procedure code or its channel; 0 without a
    /// breakdown). Units are shared out between the cores: the calendar
    /// arithmetic per dossier is the report's largest cost after folding.
    /// Each unit's histories are freed once its facts are taken: the
    /// tables (most of a large fold's memory) are freed on the cores that
    /// read them, as they go, rather than after.
    pub fn into_facts_by(self, calendar: &WorkCalendar, breakdown: Breakdown) -> FactsMap {
        let (units, len) = (self.units(), self.len());
        let Dossiers { by_unit, overflow } = self;
        let sizes: Vec<usize> = by_unit.iter().map(KeyTable::len).collect();
        let tables: Vec<std::sync::Mutex<KeyTable<History>>> =
            by_unit.into_iter().map(std::sync::Mutex::new).collect();
        facts_of_units(
            units,
            len,
            |u| sizes.get(u).copied().unwrap_or(0),
            |unit, take| {
                // Each unit is taken once, so its lock is never contended.
                let table = tables
                    .get(unit)
                    .map(|t| std::mem::take(&mut *t.lock().unwrap_or_else(|e| e.into_inner())));
                table.iter().flat_map(KeyTable::values).for_each(&mut *take);
                overflow
                    .iter()
                    .filter(|(u, _)| *u as usize == unit)
                    .for_each(|(_, h)| take(h));
            },
            calendar,
            breakdown,
        )
    }

    /// Dossiers accepted at or before `as_of` and not finished by then,
    /// with their state at `as_of`, for the units `keep` admits. Sorted by
    /// due date (most urgent first), then unit and id.
    pub fn open_at(
        &self,
        units: &UnitRegistry,
        calendar: &WorkCalendar,
        as_of: i64,
        keep: impl Fn(&str) -> bool,
    ) -> Vec<OpenDossier> {
        let mut out = Vec::new();
        for i in 0..self.units() {
            let Some(unit) = units.at(i as u32).map(|u| u.code.as_str()) else {
                continue;
            };
            if !keep(unit) {
                continue;
            }
            for h in self.of_unit(i) {
                if h.accepted > as_of || h.finished <= as_of {
                    continue;
                }
                let dues = h.dues.resolved(calendar);
                let due = due_in_force(&dues, as_of);
                let state = match due {
                    Some(d) if as_of > d => BacklogState::Overdue,
                    Some(d) if as_of >= due_soon_from(calendar, d) => BacklogState::DueSoon,
                    _ => BacklogState::NotDue,
                };
                out.push(OpenDossier {
                    dossier_id: h.id.as_str().to_owned(),
                    unit: unit.to_owned(),
                    procedure_code: unpack_code(h.procedure),
                    channel: h.channel.map(Channel::as_str),
                    accepted_at: h.accepted,
                    due_at: due,
                    state,
                });
            }
        }
        out.sort_by(|a, b| {
            (a.due_at.unwrap_or(i64::MAX), &a.unit, &a.dossier_id).cmp(&(
                b.due_at.unwrap_or(i64::MAX),
                &b.unit,
                &b.dossier_id,
            ))
        });
        out
    }
}

/// The due date in force at `t`: the latest change at or before `t` (the
/// first one if every change is later). `dues` is sorted.
fn due_in_force(dues: &[(i64, i64)], t: i64) -> Option<i64> {
    dues.iter()
        .rev()
        .find(|(at, _)| *at <= t)
        .or(dues.first())
        .map(|(_, d)| *d)
}

/// [`due_soon_from`] remembered by due date, for one pass over many
/// dossiers: the calendar walk was the largest cost of a dossier's facts,
/// and due dates repeat (on the 1.97 M-event file, 95 % of the asks were
/// for a date asked before). Bounded: cleared when it holds
/// [`SoonCache::MAX`] dates. It also holds the scratch vectors of
/// [`facts_of`], so that a pass allocates nothing per dossier.
struct SoonCache<'a> {
    calendar: &'a WorkCalendar,
    known: crate::keys::FastMap<i64, i64>,
    /// A dossier's due dates in force ([`Dues::resolved_into`]).
    dues: Vec<(i64, i64)>,
    /// The times that cut a dossier's open time into spans.
    cuts: Vec<i64>,
}

impl<'a> SoonCache<'a> {
    const MAX: usize = 1 << 16;

    fn new(calendar: &'a WorkCalendar) -> Self {
        Self {
            calendar,
            known: Default::default(),
            dues: Vec::new(),
            cuts: Vec::new(),
        }
    }

    fn of(&mut self, due: i64) -> i64 {
        if let Some(&soon) = self.known.get(&due) {
            return soon;
        }
        if self.known.len() >= Self::MAX {
            self.known.clear();
        }
        let soon = due_soon_from(self.calendar, due);
        self.known.insert(due, soon);
        soon
    }
}

/// The instant a dossier due at `due` becomes "due soon": one working day
/// before, taken at its earliest (Thursday 17:00, not Friday 07:00).
fn due_soon_from(calendar: &WorkCalendar, due: i64) -> i64 {
    let soon = calendar.sub_working_minutes(local(due), DAY_MINUTES);
    calendar.sub_working_minutes(soon, 0).timestamp()
}

/// Where an open dossier stands against its due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BacklogState {
    /// Open, more than one working day before its due date (or none given).
    NotDue,
    /// Open and due within one working day.
    DueSoon,
    /// Open past its due date.
    Overdue,
}

impl BacklogState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotDue => "not_due",
            Self::DueSoon => "due_soon",
            Self::Overdue => "overdue",
        }
    }
}

/// One dossier open at a given instant: a line of a unit's backlog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpenDossier {
    pub dossier_id: String,
    pub unit: String,
    pub procedure_code: Option<String>,
    pub channel: Option<&'static str>,
    /// Unix seconds.
    pub accepted_at: i64,
    /// The due date in force at the instant asked about, Unix seconds.
    pub due_at: Option<i64>,
    pub state: BacklogState,
}

/// One dossier in a checkpoint: `(id, procedure code, channel, channel
/// from accepted, accepted, finished, resolved, due-date changes, newest
/// event)`, times as Unix seconds, `null` for "not yet" (a checkpoint holds
/// millions).
pub type HistoryRow = (
    String,
    Option<String>,
    Option<Channel>,
    bool,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Vec<(i64, i64)>,
    i64,
);

/// [`Dossiers`] in a checkpoint: per unit code, its dossiers. Unit codes
/// rather than dense indices, so a checkpoint survives a change of the
/// reference data.
pub type DossiersCheckpoint = Vec<(String, Vec<HistoryRow>)>;

impl Dossiers {
    pub fn checkpoint(&self, units: &UnitRegistry) -> DossiersCheckpoint {
        (0..self.units())
            .filter_map(|i| {
                let code = units.at(i as u32)?.code.as_str().to_owned();
                let rows: Vec<HistoryRow> = self
                    .of_unit(i)
                    .map(|h| {
                        (
                            h.id.as_str().to_owned(),
                            unpack_code(h.procedure),
                            h.channel,
                            h.channel_from_accepted,
                            History::seen(h.accepted),
                            History::seen(h.finished),
                            History::seen(h.resolved),
                            h.dues.iter().collect(),
                            i64::from(h.seen) + SEEN_EPOCH,
                        )
                    })
                    .collect();
                (!rows.is_empty()).then_some((code, rows))
            })
            .collect()
    }

    /// Dossiers from a checkpoint; units the registry no longer knows are
    /// dropped.
    pub fn restore(cp: DossiersCheckpoint, units: &UnitRegistry) -> Self {
        let mut out = Dossiers::default();
        for (code, rows) in cp {
            let Some(index) = units.index(&code) else {
                continue;
            };
            for (
                id,
                procedure,
                channel,
                channel_from_accepted,
                accepted,
                finished,
                resolved,
                dues,
                seen,
            ) in rows
            {
                let h = out.slot(index, &id);
                h.procedure = procedure.as_deref().map_or(0, pack_code);
                (h.channel, h.channel_from_accepted) = (channel, channel_from_accepted);
                let time = |t: Option<i64>| t.unwrap_or(NEVER);
                (h.accepted, h.finished, h.resolved) =
                    (time(accepted), time(finished), time(resolved));
                h.seen = seen_since_epoch(seen);
                for d in dues {
                    h.dues.push(d);
                }
            }
        }
        out
    }
}

/// The unit index of a dossier event with an id and a status; `None` for
/// anything else.
fn dossier_unit(e: &Event, units: &UnitRegistry) -> Option<u32> {
    match (e.kind, &e.dossier_id, e.status) {
        (EventKind::Dossier, Some(_), Some(_)) => units.index_of(&e.unit),
        _ => None,
    }
}

/// Read the parts of `e` a dossier history takes ([`SharedDossiers::add_all`]).
fn touch_event(e: &Event) -> u64 {
    let id = e.dossier_id.as_ref().map_or(0, |d| d.len() as u64);
    id ^ u64::from(e.due_at.is_some()) ^ u64::from(e.procedure_code.is_some())
}

thread_local! {
    /// [`SharedDossiers::add_all`]'s lists, per shard.
    static SHARD_LISTS: std::cell::RefCell<Vec<Vec<(u32, u64, usize)>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Dossier lookups whose slots are read together ([`SharedDossiers::add_all`]).
const TOUCH_BLOCK: usize = 16;

/// Dossier histories shared by the workers of one parallel fold. Units are
/// split into shards, each behind its own lock, and a worker adds a
/// micro-batch's events shard by shard. Each dossier then has one history
/// however the input is cut: no per-worker copy of every dossier whose
/// events landed in both workers' chunks (most of them, since a lifecycle
/// spans days), and nothing to merge at the end.
#[derive(Debug)]
pub struct SharedDossiers {
    /// Units per shard.
    step: usize,
    shards: Vec<std::sync::Mutex<Dossiers>>,
}

impl SharedDossiers {
    /// Shards for `units` units (dense indices below it).
    pub fn new(units: usize) -> Self {
        const SHARDS: usize = 64;
        Self {
            step: units.div_ceil(SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Default::default()).collect(),
        }
    }

    /// Fold the dossier events of `events` in, taking each shard's lock
    /// once.
    pub fn add_all(&self, events: &[Event], units: &UnitRegistry) {
        // The lists of each shard's (unit, id key, event position) are this
        // thread's, kept from one call to the next: allocating 64 growing
        // lists per micro-batch cost time and left the heap fragmented.
        SHARD_LISTS.with_borrow_mut(|by_shard| {
            by_shard.resize_with(self.shards.len(), Vec::new);
            for part in by_shard.iter_mut() {
                part.clear();
            }
            for (at, e) in events.iter().enumerate() {
                if let Some(i) = dossier_unit(e, units)
                    && let Some(id) = e.dossier_id.as_deref()
                {
                    by_shard[self.shard_of(i)].push((i, str_key(id), at));
                }
            }
            // Workers go through the shards in the same order, so a shard
            // another worker holds is left for later rather than waited
            // on: waiting would keep the two in step, one always behind the
            // other's lock. A poisoned shard means a worker panicked
            // mid-add; its join reports that, and this fold is discarded.
            let mut busy = Vec::new();
            for (n, (shard, part)) in self.shards.iter().zip(by_shard.iter()).enumerate() {
                if part.is_empty() {
                    continue;
                }
                match shard.try_lock() {
                    Ok(mut d) => Self::add_part(&mut d, part, events),
                    Err(std::sync::TryLockError::Poisoned(p)) => {
                        Self::add_part(&mut p.into_inner(), part, events);
                    }
                    Err(std::sync::TryLockError::WouldBlock) => busy.push(n),
                }
            }
            for n in busy {
                let mut d = self.shards[n].lock().unwrap_or_else(|p| p.into_inner());
                Self::add_part(&mut d, &by_shard[n], events);
            }
        });
    }

    /// The shard of the unit at dense index `unit`.
    fn shard_of(&self, unit: u32) -> usize {
        (unit as usize / self.step).min(self.shards.len() - 1)
    }

    /// Add the events at `part`'s positions to one shard's dossiers.
    fn add_part(d: &mut Dossiers, part: &[(u32, u64, usize)], events: &[Event]) {
        // A national backlog is far larger than the caches, and one
        // micro-batch touches a dossier or two in each of thousands of
        // tables: nearly every lookup misses. So lookups go in blocks, in
        // three rounds: the block's keys (and events) are read, then their
        // histories, then the events are added. Each round's misses are in
        // flight together instead of queueing one behind the other.
        for block in part.chunks(TOUCH_BLOCK) {
            let mut t = 0u64;
            for &(i, key, at) in block {
                t ^= d.touch(i, key) ^ touch_event(&events[at]);
            }
            t = std::hint::black_box(t);
            for &(i, key, _) in block {
                t ^= d.touch_history(i, key);
            }
            std::hint::black_box(t);
            for &(i, key, at) in block {
                d.add_keyed(i, key, &events[at]);
            }
        }
    }

    /// All the histories, as one [`Dossiers`] (the shards' tables move, no
    /// history is copied).
    pub fn into_dossiers(self) -> Dossiers {
        let mut out = Dossiers::default();
        for shard in self.shards {
            let d = shard.into_inner().unwrap_or_else(|p| p.into_inner());
            for (unit, map) in d.by_unit.into_iter().enumerate() {
                if !map.is_empty() {
                    *out.unit_mut(unit as u32) = map;
                }
            }
            out.overflow.extend(d.overflow);
        }
        out
    }
}

/// Merge one unit's histories `theirs` into `mine`; a history whose id hash
/// is taken by another id goes to `spilled`.
fn merge_unit(
    unit: u32,
    mine: &mut KeyTable<History>,
    theirs: KeyTable<History>,
    spilled: &mut Vec<(u32, History)>,
) {
    if mine.is_empty() {
        *mine = theirs;
        return;
    }
    for (key, h) in theirs.into_entries() {
        match mine.get_mut(key) {
            Some(m) if m.id.is(h.id.as_str()) => m.merge(h),
            Some(_) => spilled.push((unit, h)),
            None => {
                mine.insert(key, h);
            }
        }
    }
}

/// The facts of `units` units (`len` dossiers in all), on every core:
/// `size` gives a unit's number of dossiers, `visit` hands each of a
/// unit's histories to the function it is given.
fn facts_of_units(
    units: usize,
    len: usize,
    size: impl Fn(usize) -> usize,
    visit: impl Fn(usize, &mut dyn FnMut(&History)) + Sync,
    calendar: &WorkCalendar,
    breakdown: Breakdown,
) -> FactsMap {
    let workers = super::cores();
    // Units are taken one at a time, largest first: a ministry holds
    // tens of thousands of dossiers, a commune a few hundred, so equal
    // ranges of units are far from equal work.
    let mut order: Vec<usize> = (0..units).collect();
    order.sort_by_key(|&u| std::cmp::Reverse(size(u)));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let facts_of_units = || {
        let mut out = FactsMap::default();
        let mut soon = SoonCache::new(calendar);
        while let Some(&unit) = order.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            visit(unit, &mut |h: &History| {
                if let Some(accepted) = History::seen(h.accepted) {
                    let f = out.entry((unit as u32, h.dim(breakdown))).or_default();
                    facts_of(h, accepted, &mut soon, f);
                }
            });
        }
        out.retain(|_, f| *f != UnitFacts::default());
        out
    };
    if workers == 1 || len < 10_000 {
        return facts_of_units();
    }
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..workers).map(|_| s.spawn(facts_of_units)).collect();
        let mut out = FactsMap::default();
        for p in parts {
            // A worker can only panic on a bug; fail loudly rather than
            // report partial numbers.
            out.extend(p.join().expect("a facts worker panicked"));
        }
        out
    })
}

/// One dossier's on-time resolution and state spans.
fn facts_of(h: &History, accepted: i64, cache: &mut SoonCache<'_>, f: &mut UnitFacts) {
    let calendar = cache.calendar;
    let mut dues = std::mem::take(&mut cache.dues);
    let mut cuts = std::mem::take(&mut cache.cuts);
    h.dues.resolved_into(calendar, &mut dues);
    // The due date in force at `t`: the latest change at or before t
    // (the first one if every change is later).
    let due_at = |t: i64| due_in_force(&dues, t);
    if let Some(r) = History::seen(h.resolved) {
        if due_at(r).is_some_and(|due| r <= due) {
            f.resolved_on_time.push(r);
        }
        let minutes = calendar.working_minutes_between(local(accepted), local(r));
        f.processing.push((r, minutes.max(0)));
    }
    let end = h.finished.max(accepted);
    if end > accepted {
        f.spans.push(Span {
            counter: "open_end",
            start: accepted,
            end,
        });
    }
    cuts.clear();
    cuts.push(accepted);
    cuts.extend(
        dues.iter()
            .map(|(t, _)| *t)
            .filter(|t| *t > accepted && *t < end),
    );
    cuts.push(end);
    for w in cuts.windows(2) {
        let (s, e) = (w[0], w[1]);
        if s >= e {
            continue;
        }
        let Some(due) = due_at(s) else { continue };
        let soon = cache.of(due);
        let mut span = |counter, a: i64, b: i64| {
            let (a, b) = (a.max(s), b.min(e));
            if a < b {
                f.spans.push(Span {
                    counter,
                    start: a,
                    end: b,
                });
            }
        };
        span("open_not_due_end", s, due + 1);
        span("overdue_open", due + 1, e);
        span("due_soon_open", soon, due + 1);
    }
    (cache.dues, cache.cuts) = (dues, cuts);
}

fn local(t: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .with_timezone(&model::calendar::vn_offset())
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Channel, UnitCode};
    use std::collections::HashMap;

    /// How many spans of `counter` contain the instant `t`.
    fn count_at(spans: &[Span], counter: &str, t: i64) -> i64 {
        spans
            .iter()
            .filter(|s| s.counter == counter && s.start <= t && t < s.end)
            .count() as i64
    }

    fn ev(id: &str, dossier: &str, status: S, at: &str, due: Option<&str>) -> Event {
        let t = DateTime::parse_from_rfc3339(at).unwrap();
        let mut e = Event::new(id, EventKind::Dossier, t, UnitCode::parse("00070").unwrap());
        e.dossier_id = Some(dossier.into());
        e.status = Some(status);
        e.procedure_code = Some("1.001193".into());
        e.due_at = due.map(|d| DateTime::parse_from_rfc3339(d).unwrap());
        if status == S::Accepted {
            e.channel = Some(Channel::Online);
        }
        e
    }

    fn units() -> UnitRegistry {
        UnitRegistry::embedded().unwrap()
    }

    fn dossiers_of(events: &[Event], units: &UnitRegistry) -> Dossiers {
        let mut d = Dossiers::default();
        for e in events {
            d.add(e, units);
        }
        d
    }

    /// The backlog at `as_of` of a set of events.
    fn open_dossiers(
        events: &[Event],
        units: &UnitRegistry,
        calendar: &WorkCalendar,
        as_of: i64,
        keep: impl Fn(&str) -> bool,
    ) -> Vec<OpenDossier> {
        dossiers_of(events, units).open_at(units, calendar, as_of, keep)
    }

    /// Every dossier's facts of a set of events, by unit code.
    fn facts(
        events: &[Event],
        units: &UnitRegistry,
        calendar: &WorkCalendar,
    ) -> HashMap<String, UnitFacts> {
        dossiers_of(events, units)
            .facts_by(calendar, Breakdown::None)
            .into_iter()
            .filter_map(|((i, _), f)| Some((units.at(i)?.code.as_str().to_owned(), f)))
            .collect()
    }

    #[test]
    fn a_colliding_id_hash_is_kept_apart_not_merged() {
        let mut d = Dossiers::default();
        // Pretend "D-other" hashed to the key of "D-1".
        d.unit_mut(0)
            .insert(str_key("D-1"), History::new("D-other"));
        d.slot(0, "D-1").accepted = 100;
        d.slot(0, "D-1").resolved = 200;
        assert_eq!(d.len(), 2);
        assert_eq!(d.overflow.len(), 1);
        assert_eq!(
            d.slot(0, "D-1").resolved,
            200,
            "found again in the overflow"
        );
        assert_eq!(
            d.by_unit[0].get(str_key("D-1")).unwrap().accepted,
            NEVER,
            "the resident is untouched"
        );
        let ids: Vec<&str> = d.of_unit(0).map(|h| h.id.as_str()).collect();
        assert_eq!(ids, vec!["D-other", "D-1"]);
        let long = "x".repeat(40);
        assert_eq!(Id::new(&long).as_str(), long);
        assert_eq!(Id::new("00070-000000123").as_str(), "00070-000000123");
    }

    #[test]
    fn a_large_merge_on_every_core_equals_one_pass_with_collisions() {
        let units = UnitRegistry::embedded().unwrap();
        let cal = WorkCalendar::default();
        let communes: Vec<_> = units.level(model::UnitLevel::Commune);
        // 90,000 dossiers over every commune: accepted in one part,
        // resolved (for two in three) in the other.
        let mut first = Vec::new();
        let mut second = Vec::new();
        for i in 0..90_000usize {
            let unit = communes[i % communes.len()].code.clone();
            let at = DateTime::parse_from_rfc3339("2025-11-20T08:00:00+07:00").unwrap();
            let mut e = Event::new(format!("a{i}"), EventKind::Dossier, at, unit.clone());
            e.dossier_id = Some(format!("D-{i}").into());
            e.status = Some(S::Accepted);
            e.procedure_code = Some("1.001193".into());
            e.channel = Some(Channel::Online);
            e.due_at = Some(at + chrono::Duration::days(3));
            let mut r = e.clone();
            r.event_id = format!("r{i}").into();
            r.status = Some(S::Resolved);
            r.occurred_at = at + chrono::Duration::hours(i as i64 % 120);
            first.push(e);
            if i % 3 != 0 {
                second.push(r);
            }
        }
        let one = dossiers_of(
            &first.iter().chain(&second).cloned().collect::<Vec<_>>(),
            &units,
        );
        let (a, b) = (dossiers_of(&first, &units), dossiers_of(&second, &units));
        // A foreign id squatting on D-7's key in the first part: D-7 of the
        // second part must spill to the overflow, not merge into it.
        let unit7 = units.index(communes[7].code.as_str()).unwrap();
        let mut a_squat = a.clone();
        let squatter = a_squat.by_unit[unit7 as usize]
            .insert(str_key("D-7"), History::new("D-squatter"))
            .unwrap();
        a_squat.overflow.push((unit7, squatter));
        for (x, y) in [(a.clone(), b.clone()), (b.clone(), a.clone()), (a_squat, b)] {
            let mut merged = x;
            merged.merge(y);
            // A unit's facts list its dossiers in table order, which
            // depends on the order they were inserted in: compare them as
            // sets.
            let facts = |d: &Dossiers| {
                let sorted = |m: FactsMap| {
                    let mut f: Vec<_> = m.into_iter().collect();
                    f.sort_by_key(|(k, _)| *k);
                    for (_, u) in &mut f {
                        u.resolved_on_time.sort_unstable();
                        u.processing.sort_unstable();
                        u.spans
                            .sort_unstable_by_key(|s| (s.counter, s.start, s.end));
                    }
                    f
                };
                let f = sorted(d.facts_by(&cal, Breakdown::None));
                // Freeing the histories as they are read changes no fact.
                assert!(f == sorted(d.clone().into_facts_by(&cal, Breakdown::None)));
                f
            };
            if merged.len() == one.len() {
                assert!(facts(&merged) == facts(&one));
            } else {
                assert_eq!(merged.len(), one.len() + 1, "one squatter more");
                assert_eq!(merged.overflow.len(), 1);
                assert_eq!(
                    merged.slot(unit7, "D-7").resolved,
                    one.clone().slot(unit7, "D-7").resolved
                );
            }
        }
    }

    #[test]
    fn a_shard_another_worker_holds_is_added_to_after_the_others() {
        let units = units();
        let shared = SharedDossiers::new(units.len());
        let shard_of = |i: u32| shared.shard_of(i);
        // Two units in different shards, the held one first in order.
        let (a, b) = (0u32, shared.step as u32 * 2);
        assert!(shard_of(a) < shard_of(b));
        let events: Vec<Event> = (0..40)
            .map(|n| {
                let mut e = ev(
                    &format!("e{n}"),
                    &format!("D-{n}"),
                    S::Accepted,
                    "2025-11-20T08:00:00+07:00",
                    None,
                );
                e.unit = units
                    .at(if n % 2 == 0 { a } else { b })
                    .unwrap()
                    .code
                    .clone();
                e
            })
            .collect();
        let held = shared.shards[shard_of(a)].lock().unwrap();
        std::thread::scope(|s| {
            let adding = s.spawn(|| shared.add_all(&events, &units));
            // The other shard fills while this one is held; without the
            // deferral the adder would wait here, and this times out.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while shared.shards[shard_of(b)].lock().unwrap().len() < 20 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the adder waited on the held shard"
                );
                std::thread::yield_now();
            }
            assert_eq!(held.len(), 0);
            drop(held);
            adding.join().unwrap();
        });
        let d = shared.into_dossiers();
        assert_eq!((d.len(), d.of_unit(a as usize).count()), (40, 20));
    }

    #[test]
    fn packed_codes_order_as_their_text() {
        let mut codes = ["2.000001", "1.001757", "online", "counter", "1.0", "postal"];
        let mut packed: Vec<u64> = codes.iter().map(|c| pack_code(c)).collect();
        packed.sort_unstable();
        codes.sort_unstable();
        let back: Vec<String> = packed.into_iter().filter_map(unpack_code).collect();
        assert_eq!(back, codes);
        assert_eq!(pack_code(""), 0);
        assert_eq!(pack_code("123456789"), 0, "longer than 8 bytes");
    }

    #[test]
    fn compaction_drops_factless_histories_and_keeps_collisions_reachable() {
        assert!(
            std::mem::size_of::<History>() <= 88,
            "the newest-event time lives in padding"
        );
        let units = UnitRegistry::embedded().unwrap();
        let cal = WorkCalendar::default();
        let unit = units.index("00070").unwrap();
        let mut d = Dossiers::default();
        // A rating of a dossier folded away long ago: no acceptance, no
        // facts. Kept until the cut passes its time, then dropped.
        d.add(
            &ev("r", "OLD", S::Rated, "2025-11-20T09:00:00+07:00", None),
            &units,
        );
        // D-1 lives in the overflow because a finished dossier squats on
        // its key.
        let mut squatter = History::new("D-squatter");
        squatter.accepted = ts("2025-11-01T08:00:00+07:00");
        squatter.finished = ts("2025-11-02T08:00:00+07:00");
        d.unit_mut(unit).insert(str_key("D-1"), squatter);
        d.add(
            &ev(
                "1",
                "D-1",
                S::Accepted,
                "2025-11-19T08:00:00+07:00",
                Some("2025-11-26T17:00:00+07:00"),
            ),
            &units,
        );
        assert_eq!((d.len(), d.overflow.len()), (3, 1));

        let facts = d.take_finished_before(ts("2025-11-20T08:00:00+07:00"), &cal, Breakdown::None);
        assert_eq!(facts.len(), 1, "the squatter's facts");
        assert_eq!(d.len(), 2, "the rating is newer than the cut");
        assert!(d.overflow.is_empty(), "D-1 took the squatter's place");
        // The next event for D-1 finds it.
        d.add(
            &ev("2", "D-1", S::Resolved, "2025-11-21T10:00:00+07:00", None),
            &units,
        );
        assert_eq!(d.len(), 2);
        assert_eq!(
            d.slot(unit, "D-1").resolved,
            ts("2025-11-21T10:00:00+07:00")
        );

        d.take_finished_before(ts("2025-11-22T08:00:00+07:00"), &cal, Breakdown::None);
        assert_eq!(d.len(), 0, "D-1 finished and the rating is behind the cut");
        // The newest event time goes through a checkpoint.
        let mut e = Dossiers::default();
        e.add(
            &ev("r", "OLD", S::Rated, "2025-11-20T09:00:00+07:00", None),
            &units,
        );
        let back = Dossiers::restore(e.checkpoint(&units), &units);
        let mut later = back.clone();
        later.take_finished_before(ts("2025-11-20T09:00:00+07:00"), &cal, Breakdown::None);
        assert_eq!(later.len(), 1, "seen at the cut: kept");
        let mut later = back;
        later.take_finished_before(ts("2025-11-20T09:00:01+07:00"), &cal, Breakdown::None);
        assert_eq!(later.len(), 0);
    }

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn without_a_new_due_date_the_supplement_time_moves_the_due_date() {
        let cal = WorkCalendar::default();
        // Due Wed 17:00. The clock stops from the request (Mon 10:00) to
        // the reception (Tue 10:00): 1.5 + 3.5 + 3 = 8 working hours, so
        // the due date moves to Thu 17:00 (4.5 + 3.5 h on Thursday).
        let events = [
            ev("4", "D1", S::Resolved, "2025-11-20T15:00:00+07:00", None),
            ev(
                "3",
                "D1",
                S::SupplementReceived,
                "2025-11-18T10:00:00+07:00",
                None,
            ),
            ev(
                "2",
                "D1",
                S::SupplementRequested,
                "2025-11-17T10:00:00+07:00",
                None,
            ),
            ev(
                "1",
                "D1",
                S::Accepted,
                "2025-11-17T08:00:00+07:00",
                Some("2025-11-19T17:00:00+07:00"),
            ),
        ];
        let units = units();
        let f = &facts(&events, &units, &cal)["00070"];
        assert_eq!(
            f.resolved_on_time,
            vec![ts("2025-11-20T15:00:00+07:00")],
            "on time against Thursday 17:00"
        );
        let overdue = |t| count_at(&f.spans, "overdue_open", ts(t));
        assert_eq!(overdue("2025-11-19T18:00:00+07:00"), 0);
        // The backlog shows the moved date, whatever the arrival order.
        let open = open_dossiers(
            &events[1..],
            &units,
            &cal,
            ts("2025-11-19T18:00:00+07:00"),
            |_| true,
        );
        assert_eq!(open[0].due_at, Some(ts("2025-11-20T17:00:00+07:00")));
        // Within a working day of Thursday 17:00; without the move it
        // would be overdue.
        assert_eq!(open[0].state, BacklogState::DueSoon);
        // A reception with a date of its own replaces the moved one.
        let mut with_date = events.clone();
        with_date[1].due_at =
            Some(DateTime::parse_from_rfc3339("2025-11-19T12:00:00+07:00").unwrap());
        let f = &facts(&with_date, &units, &cal)["00070"];
        assert!(f.resolved_on_time.is_empty(), "due Wed 12:00, resolved Thu");
    }

    #[test]
    fn a_supplement_moves_the_due_date_even_when_it_arrives_late() {
        let cal = WorkCalendar::default();
        // Due Fri 17:00; a supplement moves it to Tue 17:00; resolved Mon.
        let events = [
            ev("3", "D1", S::Resolved, "2025-11-24T10:00:00+07:00", None),
            ev(
                "1",
                "D1",
                S::Accepted,
                "2025-11-19T09:00:00+07:00",
                Some("2025-11-21T17:00:00+07:00"),
            ),
            ev(
                "2",
                "D1",
                S::SupplementReceived,
                "2025-11-20T09:00:00+07:00",
                Some("2025-11-25T17:00:00+07:00"),
            ),
        ];
        let f = &facts(&events, &units(), &cal)["00070"];
        assert_eq!(f.resolved_on_time, vec![ts("2025-11-24T10:00:00+07:00")]);
        let at = |s| count_at(&f.spans, "open_end", ts(s));
        assert_eq!(
            (
                at("2025-11-19T08:59:00+07:00"),
                at("2025-11-22T12:00:00+07:00"),
                at("2025-11-24T10:00:00+07:00")
            ),
            (0, 1, 0)
        );
        // Without the supplement it would be overdue on Saturday; with it,
        // Saturday is "not yet due", and Monday 09:00 is still more than a
        // working day before Tuesday 17:00.
        assert_eq!(
            count_at(&f.spans, "overdue_open", ts("2025-11-22T12:00:00+07:00")),
            0
        );
        assert_eq!(
            count_at(
                &f.spans,
                "open_not_due_end",
                ts("2025-11-22T12:00:00+07:00")
            ),
            1
        );
        assert_eq!(
            count_at(&f.spans, "due_soon_open", ts("2025-11-24T09:00:00+07:00")),
            0
        );
        assert_eq!(
            count_at(&f.spans, "due_soon_open", ts("2025-11-21T09:00:00+07:00")),
            0
        );
    }

    #[test]
    fn an_unresolved_dossier_becomes_overdue_after_its_due_date() {
        let cal = WorkCalendar::default();
        let events = [ev(
            "1",
            "D2",
            S::Accepted,
            "2025-11-19T09:00:00+07:00",
            Some("2025-11-21T17:00:00+07:00"),
        )];
        let f = &facts(&events, &units(), &cal)["00070"];
        assert!(f.resolved_on_time.is_empty());
        assert_eq!(
            count_at(&f.spans, "overdue_open", ts("2025-11-21T17:00:00+07:00")),
            0,
            "due at 17:00 is not yet late"
        );
        assert_eq!(
            count_at(&f.spans, "overdue_open", ts("2025-11-21T17:00:01+07:00")),
            1
        );
        assert_eq!(
            count_at(&f.spans, "due_soon_open", ts("2025-11-20T17:00:00+07:00")),
            1,
            "one working day before"
        );
        assert_eq!(
            count_at(&f.spans, "due_soon_open", ts("2025-11-20T16:59:00+07:00")),
            0
        );
        assert_eq!(
            count_at(&f.spans, "open_end", ts("2030-01-01T00:00:00+07:00")),
            1
        );
    }

    #[test]
    fn late_resolution_and_refusal() {
        let cal = WorkCalendar::default();
        let events = [
            ev(
                "1",
                "D3",
                S::Accepted,
                "2025-11-19T09:00:00+07:00",
                Some("2025-11-19T17:00:00+07:00"),
            ),
            ev("2", "D3", S::Resolved, "2025-11-20T09:00:00+07:00", None),
            ev("3", "D4", S::Submitted, "2025-11-19T09:00:00+07:00", None),
            ev("4", "D4", S::Refused, "2025-11-19T10:00:00+07:00", None),
        ];
        let f = &facts(&events, &units(), &cal)["00070"];
        assert!(f.resolved_on_time.is_empty());
        assert_eq!(
            count_at(&f.spans, "overdue_open", ts("2025-11-19T20:00:00+07:00")),
            1
        );
        assert_eq!(
            count_at(&f.spans, "open_end", ts("2025-11-20T09:00:00+07:00")),
            0
        );
    }

    #[test]
    fn the_backlog_at_an_instant_moves_through_due_soon_to_overdue() {
        let cal = WorkCalendar::default();
        let events = [
            ev(
                "1",
                "D1",
                S::Accepted,
                "2025-11-19T09:00:00+07:00",
                Some("2025-11-21T17:00:00+07:00"),
            ),
            ev(
                "2",
                "D2",
                S::Accepted,
                "2025-11-19T09:30:00+07:00",
                Some("2025-11-28T17:00:00+07:00"),
            ),
            ev("3", "D2", S::Resolved, "2025-11-21T10:00:00+07:00", None),
        ];
        let at = |t: &str| {
            open_dossiers(&events, &units(), &cal, ts(t), |_| true)
                .into_iter()
                .map(|d| (d.dossier_id, d.state))
                .collect::<Vec<_>>()
        };
        use BacklogState::*;
        assert_eq!(at("2025-11-19T08:00:00+07:00"), vec![]);
        assert_eq!(
            at("2025-11-19T10:00:00+07:00"),
            vec![("D1".into(), NotDue), ("D2".into(), NotDue)]
        );
        // One working day before Fri 17:00 is Thu 17:00.
        assert_eq!(
            at("2025-11-20T16:59:00+07:00"),
            vec![("D1".into(), NotDue), ("D2".into(), NotDue)]
        );
        assert_eq!(
            at("2025-11-20T17:00:00+07:00"),
            vec![("D1".into(), DueSoon), ("D2".into(), NotDue)]
        );
        // D2 resolved Friday 10:00; D1 overdue after Fri 17:00.
        assert_eq!(
            at("2025-11-21T17:00:01+07:00"),
            vec![("D1".into(), Overdue)]
        );
        let none = open_dossiers(
            &events,
            &units(),
            &cal,
            ts("2025-11-20T10:00:00+07:00"),
            |u| u != "00070",
        );
        assert!(none.is_empty(), "the unit filter applies");
        let d = &open_dossiers(
            &events,
            &units(),
            &cal,
            ts("2025-11-20T10:00:00+07:00"),
            |_| true,
        )[0];
        assert_eq!(d.procedure_code.as_deref(), Some("1.001193"));
        assert_eq!(d.channel, Some("online"));
        assert_eq!(d.due_at, Some(ts("2025-11-21T17:00:00+07:00")));
    }
}
