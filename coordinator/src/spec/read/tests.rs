use super::*;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Shape {
    repeat: u32,
    mode: Option<Mode>,
    list: Option<Vec<u32>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Sync,
    Async,
}

#[test]
fn an_unknown_field_is_data_with_its_place_and_a_suggestion() {
    let refusal = read::<Shape>("repeat: 1\nreppeat: 2\n").unwrap_err();
    assert_eq!(refusal.at, (2, 1));
    assert!(refusal.path.is_empty());
    let Problem::UnknownName {
        what,
        given,
        expected,
    } = &refusal.problem
    else {
        panic!("{refusal:?}")
    };
    assert_eq!((*what, given.as_str()), ("field", "reppeat"));
    assert_eq!(*expected, ["repeat", "mode", "list"]);
    assert_eq!(refusal.problem.suggestion(), Some("repeat"));
    assert_eq!(
        refusal.problem.to_string(),
        "unknown field `reppeat`, expected one of `repeat`, `mode`, `list` (did you mean `repeat`?)"
    );
}

#[test]
fn an_unknown_variant_deep_inside_is_placed_at_its_value() {
    let refusal = read::<Shape>("repeat: 1\nmode:  asynk\n").unwrap_err();
    assert_eq!(refusal.at, (2, 8));
    assert_eq!(refusal.problem.suggestion(), Some("async"));
    assert_eq!(
        refusal.to_string(),
        "mode: unknown variant `asynk`, expected `sync` or `async` (did you mean `async`?)"
    );
    assert_eq!(
        refusal.problem.to_string(),
        "unknown variant `asynk`, expected `sync` or `async` (did you mean `async`?)"
    );
}

#[test]
fn a_wrong_type_found_by_the_parser_keeps_its_words_and_path_without_its_position() {
    // A word where a number is due: the parser refuses it itself.
    let refusal = read::<Shape>("repeat: 1\nlist: [1, x]\n").unwrap_err();
    assert_eq!(refusal.at, (2, 11));
    assert_eq!(
        refusal.to_string(),
        "list[1]: invalid type: string \"x\", expected u32"
    );
    assert!(matches!(refusal.problem, Problem::Parser(_)), "{refusal:?}");
}

#[test]
fn a_syntax_error_is_placed_and_keeps_where_its_context_began() {
    let refusal = read::<Shape>("repeat: 1\nlist: [1, 2\n").unwrap_err();
    assert_eq!(refusal.at, (3, 1), "{refusal:?}");
    assert_eq!(
        refusal.to_string(),
        "did not find expected ',' or ']', while parsing a flow sequence at line 2 column 7"
    );
}
