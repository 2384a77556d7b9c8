"""The comparisons of the linkage model, written once for Splink and for Python.

Each comparison is an ordered list of levels; each level is declared once here with
  - the Splink comparison level that Splink turns into SQL for its backend (DuckDB or
    Spark: Splink picks the dialect's Jaro-Winkler / Damerau-Levenshtein function), and
  - a Python predicate with the same meaning, so `score_pair` gives a pair the same
    match weight Splink gives it (tested to 1e-6, term-frequency adjustment included).

The inputs are the columns of the linkage frame (`registry.linkage.frame.FRAME_COLUMNS`);
a missing value is None (SQL NULL). SQL's three-valued logic is mirrored: a comparison
with NULL is not true.

Weights follow Splink 5 exactly: a level's weight is log2(m / u) (m and u clamped at
1e-300; a null level weighs 0); an exact-match level with term-frequency adjustment adds
w * (log2(u_exact) - log2(max(tf_l, tf_r, tf_min))) when either side's term frequency is
known; the pair's match weight is log2(prior / (1 - prior)) plus every comparison's
weight, and its probability 1 / (1 + 2^-weight).

Term frequencies are a value's share of the non-null values of its column (Splink's
definition). Batch linkage computes them over the records being linked; real-time matching
uses the table saved with the model at the last run (`ScoringModel.term_frequencies`).

API:
    model = ScoringModel.from_json(splink_json, term_frequencies={"family_name": {...}})
    score = score_pair(model, left_row, right_row)  # PairScore(probability, weight, explanation)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jellyfish

# Bump when a level changes meaning: a model trained on another spec is retrained.
SPEC_VERSION = 3
M_U_CLAMP_MIN = 1e-300

Row = Mapping[str, Any]
Predicate = Callable[[Row, Row], bool]


def _v(row: Row, column: str) -> Any:
    """A value of a row `_clean` made (None when missing)."""
    return row.get(column)


# Key of the left row of a pair under which `_clean_pair` keeps the pair's string
# similarities, so that the levels that test one (the address's similarity is in four
# levels) compute it once.
_MEMO = "__pair_memo__"


def _clean(row: Row) -> dict[str, Any]:
    """The row with "" as None, so the predicates test missing values with `is None` only.

    The public entry points (`comparison_level`, `score_pair`) clean the rows they are
    given once; the level predicates expect cleaned rows (as `features` makes them).
    """
    return {k: None if v is None or (isinstance(v, str) and not v) else v for k, v in row.items()}


def _clean_pair(left: Row, right: Row) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both rows cleaned, the left one (a copy made for this pair) with an empty memo."""
    cleaned = _clean(left)
    cleaned[_MEMO] = {}
    return cleaned, _clean(right)


def _eq(column: str) -> Predicate:
    def test(left: Row, right: Row) -> bool:
        a, b = left.get(column), right.get(column)
        return a is not None and b is not None and a == b

    return test


def _left_eq_right(column_l: str, column_r: str) -> Predicate:
    """column_l of the left record = column_r of the right one."""

    def test(left: Row, right: Row) -> bool:
        a, b = left.get(column_l), right.get(column_r)
        return a is not None and b is not None and a == b

    return test


def _cross_eq(column_a: str, column_b: str) -> Predicate:
    """a_l = b_r OR b_l = a_r."""

    def test(left: Row, right: Row) -> bool:
        pairs = (
            (left.get(column_a), right.get(column_b)),
            (left.get(column_b), right.get(column_a)),
        )
        return any(a is not None and b is not None and a == b for a, b in pairs)

    return test


def _any_null(*columns: str) -> Predicate:
    """True when either side has every one of the columns missing."""

    def test(left: Row, right: Row) -> bool:
        return all(left.get(c) is None for c in columns) or all(
            right.get(c) is None for c in columns
        )

    return test


def _jaro_winkler(column: str, threshold: float) -> Predicate:
    key = ("jaro_winkler", column)

    def test(left: Row, right: Row) -> bool:
        a, b = left.get(column), right.get(column)
        if a is None or b is None:
            return False
        memo = left.get(_MEMO)
        if memo is None:
            return bool(jellyfish.jaro_winkler_similarity(str(a), str(b)) >= threshold)
        similarity = memo.get(key)
        if similarity is None:
            similarity = memo[key] = jellyfish.jaro_winkler_similarity(str(a), str(b))
        return bool(similarity >= threshold)

    return test


def _cross_jaro_winkler(column_a: str, column_b: str, threshold: float) -> Predicate:
    """jaro_winkler(a_l, b_r) >= threshold OR jaro_winkler(b_l, a_r) >= threshold."""

    def test(left: Row, right: Row) -> bool:
        pairs = (
            (left.get(column_a), right.get(column_b)),
            (left.get(column_b), right.get(column_a)),
        )
        return any(
            a is not None
            and b is not None
            and jellyfish.jaro_winkler_similarity(str(a), str(b)) >= threshold
            for a, b in pairs
        )

    return test


def _damerau_levenshtein(column: str, distance: int) -> Predicate:
    key = ("damerau_levenshtein", column)

    def test(left: Row, right: Row) -> bool:
        a, b = left.get(column), right.get(column)
        if a is None or b is None:
            return False
        memo = left.get(_MEMO)
        if memo is None:
            return bool(jellyfish.damerau_levenshtein_distance(str(a), str(b)) <= distance)
        found = memo.get(key)
        if found is None:
            found = memo[key] = jellyfish.damerau_levenshtein_distance(str(a), str(b))
        return bool(found <= distance)

    return test


def _abs_diff_at_most(column: str, limit: int) -> Predicate:
    def test(left: Row, right: Row) -> bool:
        a, b = left.get(column), right.get(column)
        return a is not None and b is not None and abs(int(a) - int(b)) <= limit

    return test


def _words_overlap(column: str) -> Predicate:
    """The two values (space-separated words) have a word in common."""

    def test(left: Row, right: Row) -> bool:
        a, b = left.get(column), right.get(column)
        return a is not None and b is not None and not set(a.split(" ")).isdisjoint(b.split(" "))

    return test


def _all(*predicates: Predicate) -> Predicate:
    if len(predicates) == 2:
        first, second = predicates
        return lambda left, right: first(left, right) and second(left, right)
    if len(predicates) == 3:
        first, second, third = predicates
        return lambda left, right: first(left, right) and second(left, right) and third(left, right)
    return lambda left, right: all(test(left, right) for test in predicates)


def _always(left: Row, right: Row) -> bool:
    return True


@dataclass(frozen=True)
class Level:
    """One comparison level: its Splink form (built lazily) and its Python twin."""

    label: str
    kind: str  # null | exact | jaro_winkler | damerau_levenshtein | custom | else
    predicate: Predicate
    column: str | None = None
    threshold: float = 0.0
    sql: str = ""  # kind "custom": portable SQL (=, AND, OR, abs, IS NULL, {jaro_winkler})
    tf: bool = False  # term-frequency adjustment (exact levels only)
    is_null: bool = False

    def splink_level(self) -> Any:
        import splink.comparison_level_library as cll

        creator: Any
        column = self.column or ""
        if self.kind == "null":
            creator = cll.NullLevel(self.column) if self.column else cll.CustomLevel(self.sql)
            if not self.column:
                creator.configure(is_null_level=True)
        elif self.kind == "exact":
            creator = cll.ExactMatchLevel(column, term_frequency_adjustments=self.tf)
        elif self.kind == "jaro_winkler":
            creator = cll.JaroWinklerLevel(column, self.threshold)
        elif self.kind == "damerau_levenshtein" and int(self.threshold) == 1:
            creator = _dialect_level(_one_typo_sql(column))
        elif self.kind == "damerau_levenshtein":
            creator = cll.DamerauLevenshteinLevel(column, int(self.threshold))
        elif self.kind == "custom":
            creator = _dialect_level(self.sql) if "{" in self.sql else cll.CustomLevel(self.sql)
        else:
            creator = cll.ElseLevel()
        return creator.configure(label_for_charts=self.label)


# Array functions by dialect: {split}(text, ' ') makes an array, {overlap}(a, b) is true
# when two arrays have an element in common.
_ARRAY_FUNCTIONS = {
    "duckdb": {"{split}": "string_split", "{overlap}": "list_has_any"},
    "spark": {"{split}": "split", "{overlap}": "arrays_overlap"},
}


def _dialect_level(sql: str) -> Any:
    """A custom level whose SQL names the dialect's string functions as {jaro_winkler} and
    {damerau_levenshtein} (DuckDB's own functions, Splink's UDFs on Spark), and its array
    functions as {split} and {overlap} (`_ARRAY_FUNCTIONS`)."""
    import splink.comparison_level_library as cll

    class DialectLevel(cll.CustomLevel):
        def create_sql(self, sql_dialect: Any) -> str:
            sql = (
                str(self.sql_condition)
                .replace("{jaro_winkler}", sql_dialect.jaro_winkler_function_name)
                .replace("{damerau_levenshtein}", sql_dialect.damerau_levenshtein_function_name)
            )
            functions = _ARRAY_FUNCTIONS.get(sql_dialect.sql_dialect_str, {})
            for placeholder, name in functions.items():
                sql = sql.replace(placeholder, name)
            return sql

    return DialectLevel(sql)


def _one_typo_sql(column: str) -> str:
    """Damerau-Levenshtein distance <= 1, behind cheap tests that distance implies.

    The edit distance is slow to compute and almost every pair that reaches this level
    (two different people) fails it. One edit changes the length by at most one and leaves
    the first or the last k characters alone when both strings have at least 2k + 1
    characters (tested for k = 1 and k = 4), so a pair failing these tests is more than
    one edit apart: the level means exactly what Damerau-Levenshtein <= 1 means (the
    Python predicate), and SQL engines that stop at the first false test skip the
    distance for most pairs.
    """
    a, b = f"{column}_l", f"{column}_r"  # unquoted: Spark reads "x" as a string
    shortest = f"least(length({a}), length({b}))"
    return (
        f"abs(length({a}) - length({b})) <= 1"
        f" AND ({shortest} < 3 OR left({a}, 1) = left({b}, 1) OR right({a}, 1) = right({b}, 1))"
        f" AND ({shortest} < 9 OR left({a}, 4) = left({b}, 4) OR right({a}, 4) = right({b}, 4))"
        f" AND {{damerau_levenshtein}}({a}, {b}) <= 1"
    )


def null(column: str, label: str) -> Level:
    def test(left: Row, right: Row) -> bool:
        return left.get(column) is None or right.get(column) is None

    return Level(label, "null", test, column, is_null=True)


def exact(column: str, label: str, *, tf: bool = False) -> Level:
    return Level(label, "exact", _eq(column), column, tf=tf)


def jaro_winkler(column: str, threshold: float, label: str) -> Level:
    return Level(label, "jaro_winkler", _jaro_winkler(column, threshold), column, threshold)


def damerau_levenshtein(column: str, distance: int, label: str) -> Level:
    return Level(
        label, "damerau_levenshtein", _damerau_levenshtein(column, distance), column, distance
    )


def custom(sql: str, predicate: Predicate, label: str, *, is_null: bool = False) -> Level:
    return Level(label, "null" if is_null else "custom", predicate, sql=sql, is_null=is_null)


ELSE = Level("All other comparisons", "else", _always)


@dataclass(frozen=True)
class Comparison:
    name: str  # Splink's output_column_name
    description: str
    levels: tuple[Level, ...]

    def splink_comparison(self) -> Any:
        import splink.comparison_library as cl

        return cl.CustomComparison(
            output_column_name=self.name,
            comparison_description=self.description,
            comparison_levels=[level.splink_level() for level in self.levels],
        )

    @property
    def tf_column(self) -> str | None:
        return next((lvl.column for lvl in self.levels if lvl.tf), None)


_SAME_ADDRESS = "address_sorted_l = address_sorted_r"
_SIMILAR_ADDRESS = "{jaro_winkler}(address_sorted_l, address_sorted_r) >= 0.9"
_SAME_POSTCODE = "postcode_l = postcode_r"
_SIMILAR_TOWN = "{jaro_winkler}(locality_l, locality_r) >= 0.9"

COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "given_name",
        "First given name, nicknames resolved",
        (
            null("given_name", "Given name missing"),
            exact("given_name", "Given name the same", tf=True),
            exact("given_name_root", "Given name the same once nicknames are resolved"),
            damerau_levenshtein("given_name", 1, "Given name one typo apart"),
            jaro_winkler("given_name", 0.88, "Given name similar"),
            custom(
                "given_name_l = family_name_r OR family_name_l = given_name_r",
                _cross_eq("given_name", "family_name"),
                "Given and family names swapped",
            ),
            custom(
                "{jaro_winkler}(given_name_l, family_name_r) >= 0.88"
                " OR {jaro_winkler}(family_name_l, given_name_r) >= 0.88",
                _cross_jaro_winkler("given_name", "family_name", 0.88),
                "Given and family names swapped, with a typo",
            ),
            ELSE,
        ),
    ),
    Comparison(
        "family_name",
        "Family name, previous family name and double-barrelled parts",
        (
            null("family_name", "Family name missing"),
            exact("family_name", "Family name the same", tf=True),
            custom(
                "previous_family_name_l = family_name_r"
                " OR family_name_l = previous_family_name_r"
                " OR family_name_first_l = family_name_first_r",
                lambda left, right: (
                    _cross_eq("previous_family_name", "family_name")(left, right)
                    or _eq("family_name_first")(left, right)
                ),
                "Previous family name, or first part of the family name, the same",
            ),
            damerau_levenshtein("family_name", 1, "Family name one typo apart"),
            jaro_winkler("family_name", 0.88, "Family name similar"),
            ELSE,
        ),
    ),
    Comparison(
        "date_of_birth",
        "Date of birth",
        (
            null("dob", "Date of birth missing"),
            exact("dob", "Date of birth the same"),
            custom(
                "dob_swapped_l = dob_r",
                _left_eq_right("dob_swapped", "dob"),
                "Day and month swapped",
            ),
            damerau_levenshtein("dob", 1, "Date of birth one typo apart"),
            custom(
                "abs(dob_days_l - dob_days_r) <= 366",
                _abs_diff_at_most("dob_days", 366),
                "Date of birth within a year",
            ),
            ELSE,
        ),
    ),
    Comparison(
        "location",
        "Address, town and postcode",
        (
            custom(
                # address_sorted is missing exactly when the address is; naming only it
                # spares the engine carrying both through every pair
                "(address_sorted_l IS NULL AND postcode_l IS NULL AND locality_l IS NULL)"
                " OR (address_sorted_r IS NULL AND postcode_r IS NULL AND locality_r IS NULL)",
                _any_null("address_sorted", "postcode", "locality"),
                "Address, town and postcode missing",
                is_null=True,
            ),
            custom(
                f"{_SAME_ADDRESS} AND {_SAME_POSTCODE} AND {_SIMILAR_TOWN}",
                _all(_eq("address_sorted"), _eq("postcode"), _jaro_winkler("locality", 0.9)),
                "Address and postcode the same, town similar",
            ),
            custom(
                f"{_SAME_ADDRESS} AND {_SAME_POSTCODE}",
                _all(_eq("address_sorted"), _eq("postcode")),
                "Address and postcode the same",
            ),
            custom(
                f"{_SIMILAR_ADDRESS} AND {_SAME_POSTCODE} AND {_SIMILAR_TOWN}",
                _all(
                    _jaro_winkler("address_sorted", 0.9),
                    _eq("postcode"),
                    _jaro_winkler("locality", 0.9),
                ),
                "Address and town similar, postcode the same",
            ),
            custom(
                f"{_SIMILAR_ADDRESS} AND {_SAME_POSTCODE}",
                _all(_jaro_winkler("address_sorted", 0.9), _eq("postcode")),
                "Address similar and postcode the same",
            ),
            custom(
                f"{_SIMILAR_ADDRESS} AND {_SIMILAR_TOWN}",
                _all(_jaro_winkler("address_sorted", 0.9), _jaro_winkler("locality", 0.9)),
                "Address and town similar",
            ),
            custom(
                f"{_SAME_POSTCODE} AND {_SIMILAR_TOWN}",
                _all(_eq("postcode"), _jaro_winkler("locality", 0.9)),
                "Postcode the same and town similar",
            ),
            exact("postcode", "Postcode the same"),
            jaro_winkler("address_sorted", 0.9, "Address similar"),
            custom(
                f"{_SIMILAR_TOWN} AND ({_one_typo_sql('postcode')})",
                _all(_jaro_winkler("locality", 0.9), _damerau_levenshtein("postcode", 1)),
                "Town similar and postcode one typo apart",
            ),
            damerau_levenshtein("postcode", 1, "Postcode one typo apart"),
            jaro_winkler("locality", 0.9, "Town similar"),
            exact("postcode_district", "Same postcode district"),
            ELSE,
        ),
    ),
    Comparison(
        "national_id",
        "National ID (compared through its blind index)",
        (
            null("national_id_index", "National ID missing"),
            exact("national_id_index", "National ID the same"),
            custom(
                # The head or tail first, a cheap test that spares almost every pair the
                # key sets (two IDs one typo apart have one or the other the same); a CASE
                # because engines may evaluate both sides of an AND.
                "CASE WHEN national_id_head_l = national_id_head_r"
                " OR national_id_tail_l = national_id_tail_r"
                " THEN {overlap}({split}(national_id_near_l, ' '),"
                " {split}(national_id_near_r, ' '))"
                " ELSE false END",
                _all(
                    lambda left, right: (
                        _eq("national_id_head")(left, right) or _eq("national_id_tail")(left, right)
                    ),
                    _words_overlap("national_id_near"),
                ),
                "National ID one typo apart",
            ),
            ELSE,
        ),
    ),
    Comparison(
        "sex",
        "Sex",
        (null("sex", "Sex missing"), exact("sex", "Sex the same"), ELSE),
    ),
    Comparison(
        "phone",
        "Phone",
        (null("phone", "Phone missing"), exact("phone", "Phone the same"), ELSE),
    ),
    Comparison(
        "email",
        "E-mail",
        (null("email", "E-mail missing"), exact("email", "E-mail the same"), ELSE),
    ),
)

# Columns whose term frequencies the model uses (family and given name).
TF_COLUMNS: tuple[str, ...] = tuple(c.tf_column for c in COMPARISONS if c.tf_column)


# --- scoring in Python ------------------------------------------------------------------


@dataclass(frozen=True)
class LevelParams:
    label: str
    weight: float  # log2(m/u), 0 for a null level
    tf_column: str | None
    tf_weight: float
    tf_minimum_u: float
    log2_u_exact: float  # u of the comparison's exact level on the tf column, as log2


@dataclass
class ScoringModel:
    """A trained model in the shape the Python scorer needs."""

    prior_weight: float
    levels: dict[str, list[LevelParams]]
    term_frequencies: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_json(
        cls,
        splink_model: Mapping[str, Any],
        *,
        term_frequencies: Mapping[str, Mapping[str, float]] | None = None,
    ) -> ScoringModel:
        prior = float(splink_model["probability_two_random_records_match"])
        by_name = {c["output_column_name"]: c for c in splink_model["comparisons"]}
        levels: dict[str, list[LevelParams]] = {}
        for comparison in COMPARISONS:
            saved = by_name.get(comparison.name)
            if saved is None or len(saved["comparison_levels"]) != len(comparison.levels):
                raise ValueError(
                    f"the model's comparison {comparison.name!r} does not match the spec; "
                    "retrain the linkage model"
                )
            saved_levels = saved["comparison_levels"]
            u_exact = _u_exact(comparison, saved_levels)
            params = []
            for spec, level in zip(comparison.levels, saved_levels, strict=True):
                params.append(
                    LevelParams(
                        label=spec.label,
                        weight=_level_weight(spec, level),
                        tf_column=spec.column if spec.tf else None,
                        tf_weight=float(level.get("tf_adjustment_weight", 1.0)),
                        tf_minimum_u=float(level.get("tf_minimum_u_value", 0.0)),
                        log2_u_exact=math.log2(u_exact) if spec.tf and u_exact else 0.0,
                    )
                )
            levels[comparison.name] = params
        tf = {k: dict(v) for k, v in (term_frequencies or {}).items()}
        return cls(prior_weight=prob_to_weight(prior), levels=levels, term_frequencies=tf)


def _u_exact(comparison: Comparison, saved_levels: list[Mapping[str, Any]]) -> float | None:
    for spec, level in zip(comparison.levels, saved_levels, strict=True):
        if spec.tf:
            return float(level["u_probability"])
    return None


def _level_weight(spec: Level, level: Mapping[str, Any]) -> float:
    if spec.is_null:
        return 0.0
    m = level.get("m_probability")
    u = level.get("u_probability")
    if m is None or u is None:
        raise ValueError(f"level {spec.label!r} is not trained (no m or u probability)")
    return math.log2(max(float(m), M_U_CLAMP_MIN) / max(float(u), M_U_CLAMP_MIN))


def prob_to_weight(probability: float) -> float:
    return math.log2(probability / (1 - probability))


def weight_to_prob(weight: float) -> float:
    if weight >= 0:
        return 1.0 / (1.0 + 2.0 ** (-weight))
    return 2.0**weight / (1.0 + 2.0**weight)


@dataclass(frozen=True)
class PairScore:
    probability: float
    weight: float
    # [{"comparison", "level", "weight"}]: the level each comparison fell in and its weight
    # (term-frequency adjustment included), as MatchCandidate.explanation stores it
    explanation: list[dict[str, Any]]


def comparison_level(comparison: Comparison, left: Row, right: Row) -> int:
    """The index of the first level whose predicate holds (Splink's CASE WHEN order)."""
    return _level_index(comparison, *_clean_pair(left, right))


def _level_index(comparison: Comparison, left: Row, right: Row) -> int:
    for index, level in enumerate(comparison.levels):
        if level.predicate(left, right):
            return index
    return len(comparison.levels) - 1


def score_pair(model: ScoringModel, left: Row, right: Row) -> PairScore:
    """The pair's match weight and probability, computed as Splink computes them."""
    total = model.prior_weight
    explanation: list[dict[str, Any]] = []
    left, right = _clean_pair(left, right)
    for comparison in COMPARISONS:
        index = _level_index(comparison, left, right)
        params = model.levels[comparison.name][index]
        weight = params.weight
        if params.tf_column is not None and params.tf_weight:
            weight += _tf_adjustment(model, params, left, right)
        total += weight
        explanation.append({"comparison": comparison.name, "level": params.label, "weight": weight})
    return PairScore(weight_to_prob(total), total, explanation)


def _tf_adjustment(model: ScoringModel, params: LevelParams, left: Row, right: Row) -> float:
    assert params.tf_column is not None
    table = model.term_frequencies.get(params.tf_column, {})
    value_l, value_r = left.get(params.tf_column), right.get(params.tf_column)
    tf_l = table.get(value_l) if value_l is not None else None
    tf_r = table.get(value_r) if value_r is not None else None
    if tf_l is None and tf_r is None:
        return 0.0
    known = [t for t in (tf_l, tf_r) if t is not None]
    tf_u = max([*known, params.tf_minimum_u])
    return params.tf_weight * (params.log2_u_exact - math.log2(tf_u))


def explanation_from_columns(
    row: Mapping[str, Any], model: ScoringModel, left: Row, right: Row
) -> list[dict[str, Any]]:
    """The explanation of a pair Splink scored, from its mw_ and mw_tf_adj_ output columns.

    Splink 5 outputs each comparison's weight but not its level (no gamma_ columns), so
    the level is named by the Python predicates, which select the same level.
    """
    explanation = []
    for comparison in COMPARISONS:
        index = comparison_level(comparison, left, right)
        weight = _number(row.get(f"mw_{comparison.name}"))
        weight += _number(row.get(f"mw_tf_adj_{comparison.name}"))
        explanation.append(
            {
                "comparison": comparison.name,
                "level": model.levels[comparison.name][index].label,
                "weight": weight,
            }
        )
    return explanation


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    number = float(value)
    return 0.0 if math.isnan(number) else number
