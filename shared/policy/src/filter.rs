//! The identity filter: which of a member's identities flow to a receiving account.

use crate::IdentityType;
use std::collections::{BTreeMap, BTreeSet};

/// Whether a receiving account has proven that it has seen a member: one of the
/// identities it holds for the user (its profile) equals the member's identity of the
/// same type, for a type the owner has never granted it. A type granted once (even if
/// revoked since) proves nothing: the receiver could hold that value because it was sent
/// it. A profile without identities proves nothing.
pub fn proves_seen<V: PartialEq>(
    member: &BTreeMap<IdentityType, V>,
    profile: &BTreeMap<IdentityType, V>,
    ever_granted: &BTreeSet<IdentityType>,
) -> bool {
    member
        .iter()
        .any(|(t, v)| !ever_granted.contains(t) && profile.get(t) == Some(v))
}

/// The identities of one audience member as delivered to a receiving account.
///
/// A user the receiving account has already seen gets every identity: the filter applies
/// only to users it has not seen. For the others, only the identity types the owner
/// account granted to the receiving account pass. The result is never larger than the
/// input, and an empty result means the member is not delivered at all.
pub fn deliver_identities<V: Clone>(
    identities: &BTreeMap<IdentityType, V>,
    seen_by_receiver: bool,
    granted: &BTreeSet<IdentityType>,
) -> BTreeMap<IdentityType, V> {
    identities
        .iter()
        .filter(|(t, _)| seen_by_receiver || granted.contains(t))
        .map(|(t, v)| (*t, v.clone()))
        .collect()
}
