use super::*;

/// The names honour every state's count and "A" count, with accents.
#[test]
fn generated_names_honour_the_counts() {
    let cities = city_names();
    assert_eq!(cities.len() as u64, CITIES_PER_SCALE);
    for state in &STATES {
        let mine: Vec<_> = cities.iter().filter(|(_, id)| *id == state.id).collect();
        assert_eq!(mine.len() as u32, state.cities, "{}", state.abbreviation);
        let a = mine
            .iter()
            .filter(|(name, _)| name.starts_with('A'))
            .count() as u32;
        assert_eq!(a, state.cities_starting_with_a, "{}", state.abbreviation);
    }
    assert!(
        cities
            .iter()
            .any(|(name, _)| name.contains('ã') || name.contains('é'))
    );
    assert_eq!(city_names(), cities, "deterministic");
}

/// The table holds Brazil's 5,564 municipalities, 411 of them starting
/// with "A". (What the queries return is checked by running them, in
/// the PostgreSQL tests.)
#[test]
fn the_states_table_holds_brazils_municipalities() {
    let total: u64 = STATES.iter().map(|s| u64::from(s.cities)).sum();
    let a: u64 = STATES
        .iter()
        .map(|s| u64::from(s.cities_starting_with_a))
        .sum();
    assert_eq!((total, a), (CITIES_PER_SCALE, 411));
}
