//! Who covers which role: distinct people for distinct roles, as many roles as possible
//! (a small bipartite matching with augmenting paths). The approval quorum counts with it,
//! and configuration validation asks it whether a release type can be approved at all.

/// For each of `roles`, the index of the person who covers it, if any; `holds(person, role)`
/// says whether a person may cover a role. No person covers two roles.
pub fn match_roles(
    roles: &[String],
    people: usize,
    holds: impl Fn(usize, &str) -> bool,
) -> Vec<Option<usize>> {
    fn try_assign(
        role: usize,
        roles: &[String],
        holds: &dyn Fn(usize, &str) -> bool,
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for p in 0..owner.len() {
            if seen[p] || !holds(p, &roles[role]) {
                continue;
            }
            seen[p] = true;
            if owner[p].is_none_or(|other| try_assign(other, roles, holds, seen, owner)) {
                owner[p] = Some(role);
                return true;
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; people];
    for role in 0..roles.len() {
        let mut seen = vec![false; people];
        try_assign(role, roles, &holds, &mut seen, &mut owner);
    }
    let mut by_role = vec![None; roles.len()];
    for (p, role) in owner.iter().enumerate() {
        if let Some(r) = role {
            by_role[*r] = Some(p);
        }
    }
    by_role
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_one_person_with_two_roles_when_matched_then_they_cover_one_and_others_make_room() {
        let roles = vec!["CEO".to_string(), "CTO".to_string()];
        // Person 0 holds both, person 1 only CEO: 1 → CEO, 0 → CTO.
        let held = [vec!["CEO", "CTO"], vec!["CEO"]];
        let m = match_roles(&roles, 2, |p, r| held[p].contains(&r));
        assert_eq!(m, vec![Some(1), Some(0)]);
        // Alone, the person holding both covers one role only.
        let m = match_roles(&roles, 1, |p, r| held[p].contains(&r));
        assert_eq!(m.iter().filter(|c| c.is_some()).count(), 1);
    }
}
