/**
 * A labelled corpus for measuring the label rule: 5 labels, each with 3
 * positive examples and 9 further members written in other words, 2–3
 * near-duplicate traps per label (same surface words, another subject:
 * Rust the game, office space, the political climate, American football,
 * model trains), and 24 items on other subjects. Written for these tests.
 *
 *     for (const label of FIXTURE_LABELS) label.positives; // item ids
 *     FIXTURE_ITEMS.find((item) => item.id === 'rust-04')!.labels; // ['rust']
 */

/** One item: its text (title and summary) and the labels it truly carries. */
export interface FixtureItem {
  readonly id: string;
  readonly text: string;
  readonly labels: readonly string[];
}

/** One label and the ids of its positive examples. */
export interface FixtureLabel {
  readonly id: string;
  readonly name: string;
  readonly positives: readonly string[];
  /** The near-duplicate trap the hard-negative test marks. */
  readonly trap: string;
}

const members = (label: string, texts: string[]): FixtureItem[] =>
  texts.map((text, i) => ({ id: `${label}-${String(i + 1).padStart(2, '0')}`, text, labels: [label] }));
const others = (prefix: string, texts: string[]): FixtureItem[] =>
  texts.map((text, i) => ({ id: `${prefix}-${String(i + 1).padStart(2, '0')}`, text, labels: [] }));

export const FIXTURE_ITEMS: readonly FixtureItem[] = [
  ...members('rust', [
    'Rust 1.80 released with faster compile times. The new version of the Rust programming language speeds up incremental builds.',
    'The borrow checker explained: how Rust guarantees memory safety without a garbage collector.',
    'Cargo workspaces: organising a large Rust codebase into crates.',
    'Writing an async web server in Rust with Tokio and Axum.',
    'Linux kernel accepts more drivers written in Rust alongside C.',
    'Why our team rewrote a Python service in Rust: latency dropped and memory use halved.',
    'Lifetimes and ownership for C++ programmers moving to Rust.',
    'The Rust compiler team proposes a new trait solver for the next edition.',
    'Compiling Rust to WebAssembly for fast code in the browser.',
    'Unsafe code in Rust crates: an audit of the ecosystem finds fewer memory bugs than expected.',
    'Error handling in Rust with Result, the question mark operator and custom error types.',
    'Rust foundation funds maintainers of critical open source crates.',
  ]),
  ...members('space', [
    'NASA rover finds ancient river delta on Mars, a promising place to look for signs of past life.',
    'SpaceX launches a cargo capsule to the International Space Station.',
    'James Webb telescope spots carbon dioxide in the atmosphere of a distant exoplanet.',
    'European probe begins its long journey to the icy moons of Jupiter.',
    'Astronauts complete a seven hour spacewalk to upgrade the station solar arrays.',
    'China lands a spacecraft on the far side of the Moon and returns samples to Earth.',
    'A new heavy rocket reaches orbit on its first test flight.',
    'Astronomers detect a burst of radio waves from a galaxy billions of light years away.',
    'India sends an orbiter to study the Sun from a point between the Earth and the Sun.',
    'Artemis crew named for the first crewed flight around the Moon in half a century.',
    'Asteroid sample capsule lands in the desert after a seven year mission.',
    'Private lunar lander tips over after touching down near the lunar south pole.',
  ]),
  ...members('climate', [
    'Global temperatures hit a record as greenhouse gas emissions keep rising, scientists warn.',
    'Countries agree to triple renewable energy capacity by the end of the decade at the climate summit.',
    'Melting glaciers in the Alps lose a tenth of their ice in two years.',
    'Solar and wind power overtake coal in European electricity generation.',
    'Heatwaves and droughts linked to global warming cut wheat harvests.',
    'Sea level rise threatens low lying island nations, a new report finds.',
    'Carbon capture plant opens, but critics say it removes only a tiny share of emissions.',
    'Electric cars pass a fifth of new car sales as battery prices fall.',
    'Wildfire season grows longer as forests dry out in a warming world.',
    'Arctic sea ice shrinks to one of its smallest extents on record.',
    'Cities plant trees and cool roofs to cope with extreme summer heat.',
    'Methane leaks from oil and gas wells are far larger than reported.',
  ]),
  ...members('football', [
    'Late header sends the club into the Champions League final after a dramatic semi final.',
    'Striker scores a hat trick as the league leaders win five nil.',
    'The World Cup qualifier ends in a goalless draw after the goalkeeper saves a penalty.',
    'Manager sacked after a run of seven defeats leaves the club near relegation.',
    'Transfer window: the midfielder joins a Spanish club for a record fee.',
    'Women’s national team wins the European championship on penalties.',
    'Referee under fire after a disallowed goal and two red cards in the derby.',
    'Premier League title race goes to the final day of the season.',
    'Young winger signs his first professional contract with his boyhood club.',
    'Fans protest ticket prices before the cup match at the stadium.',
    'Video assistant referee overturns a penalty in the last minute of stoppage time.',
    'Veteran defender announces retirement after twenty seasons and three league titles.',
  ]),
  ...members('ai', [
    'Researchers train a large language model on ten trillion tokens of text.',
    'Neural networks learn to predict protein structures with near experimental accuracy.',
    'New benchmark shows chatbots still struggle with multi step reasoning.',
    'Fine tuning a transformer model on a single GPU with low rank adapters.',
    'Machine learning model detects tumours in medical scans earlier than radiologists.',
    'Open weights model matches proprietary systems on coding benchmarks.',
    'Reinforcement learning from human feedback: how preference data shapes assistants.',
    'Deep learning speeds up weather forecasts by orders of magnitude.',
    'Study finds image generators reproduce training data in rare cases.',
    'Smaller distilled models run artificial intelligence on phones without the cloud.',
    'Regulators draft rules for high risk uses of artificial intelligence.',
    'Training data quality matters more than model size, paper argues.',
  ]),
  // Near-duplicate traps: the surface words of a label, another subject.
  { id: 'trap-rust-game', text: 'Rust 1.80 update for the survival game adds new monuments and a map wipe for every server.', labels: [] },
  { id: 'trap-rust-game-2', text: 'Rust survival game patch brings new monuments, weapons and a server wipe.', labels: [] },
  { id: 'trap-rust-iron', text: 'How to remove rust from cast iron pans with vinegar and steel wool.', labels: [] },
  { id: 'trap-space-office', text: 'Office space rents fall downtown as companies shrink their footprint.', labels: [] },
  { id: 'trap-space-office-2', text: 'Office space vacancies rise downtown as rents fall for companies.', labels: [] },
  { id: 'trap-space-kitchen', text: 'Five ways to save space in a small kitchen.', labels: [] },
  { id: 'trap-climate-politics', text: 'The political climate in the capital heats up before the budget vote.', labels: [] },
  { id: 'trap-climate-politics-2', text: 'Political climate heats up in the capital as the budget vote nears.', labels: [] },
  { id: 'trap-climate-markets', text: 'Investment climate sours as markets slide on record interest rates.', labels: [] },
  { id: 'trap-football-nfl', text: 'Quarterback throws four touchdowns as the Chiefs beat the Ravens in the NFL playoffs.', labels: [] },
  { id: 'trap-football-nfl-2', text: 'NFL playoffs: the quarterback throws four touchdowns and the Chiefs win.', labels: [] },
  { id: 'trap-football-fantasy', text: 'Fantasy football app raises money from venture investors.', labels: [] },
  { id: 'trap-ai-trains', text: 'Model trains: a hobbyist guide to building a miniature railway and training new members.', labels: [] },
  { id: 'trap-ai-trains-2', text: 'Model train hobbyists build a miniature railway layout with new members training.', labels: [] },
  { id: 'trap-ai-neural', text: 'Doctors update folic acid advice to prevent neural tube defects in pregnancy.', labels: [] },
  ...others('other', [
    'Central bank raises interest rates for the fourth time this year to curb inflation.',
    'Stock markets rally as tech shares rebound after a weak quarter.',
    'New study links a Mediterranean diet to lower risk of heart disease.',
    'Parliament passes a law on housing rents after months of debate.',
    'Museum returns looted bronzes to Nigeria.',
    'Chef shares a recipe for slow roasted tomatoes with garlic and thyme.',
    'The best hiking trails in the Scottish Highlands for autumn.',
    'Airline cancels hundreds of flights as pilots go on strike.',
    'Novelist wins the literary prize for a debut about a family farm.',
    'City council approves a new bicycle lane network across the centre.',
    'Orchestra premieres a symphony written by a teenage composer.',
    'Vaccine campaign cuts measles cases by half in two years.',
    'Election results: the opposition party wins a narrow majority.',
    'Smartphone maker unveils a folding phone with a larger battery.',
    'Coffee prices climb after a poor harvest in Brazil.',
    'Archaeologists uncover a Roman villa beneath a car park.',
    'Tennis star wins her third grand slam title in straight sets.',
    'Ransomware attack shuts down hospital computer systems for a week.',
    'Browser update adds tab groups and a faster JavaScript engine.',
    'Database vendor adds vector search to its managed cloud service.',
    'Retail sales fall as shoppers cut back on spending before the holidays.',
    'Documentary follows a family of wolves through a harsh winter.',
    'Dog adoption surges as shelters waive fees for the weekend.',
    'Supreme court hears arguments on free speech and social media.',
  ]),
];

export const FIXTURE_LABELS: readonly FixtureLabel[] = [
  { id: 'rust', name: 'Rust', positives: ['rust-01', 'rust-02', 'rust-03'], trap: 'trap-rust-game' },
  { id: 'space', name: 'Space', positives: ['space-01', 'space-02', 'space-03'], trap: 'trap-space-office' },
  { id: 'climate', name: 'Climate', positives: ['climate-01', 'climate-02', 'climate-03'], trap: 'trap-climate-politics' },
  { id: 'football', name: 'Football', positives: ['football-01', 'football-02', 'football-03'], trap: 'trap-football-nfl' },
  { id: 'ai', name: 'Machine learning', positives: ['ai-01', 'ai-02', 'ai-03'], trap: 'trap-ai-trains' },
];
