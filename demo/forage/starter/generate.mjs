// Writes Forage's starter bundle: the feeds a first start shows with no
// network, written for the demo (no third-party text), one file per source
// in the formats Forage reads (RSS 2.0, Atom, JSON Feed), so that the first
// start exercises every parser. Deterministic: the same files every run.
// The digest source re-posts stories of the others under tracking links, so
// that the feed shows deduplication (one item, two sources).
//
//     node demo/forage/starter/generate.mjs   # rewrites demo/forage/starter/*.{xml,json}
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const BASE_TIME = Date.UTC(2026, 10, 30, 18, 0, 0);
const HOUR = 3_600_000;

let seed = 0x9e3779b9;
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const cap = (s) => s[0].toUpperCase() + s.slice(1);
const slug = (s) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

const SOURCES = [
  {
    slug: 'orbit-notes',
    title: 'Orbit Notes',
    site: 'https://orbit-notes.example',
    format: 'rss',
    topic: 'space',
    tails: [
      'Charts for observers with binoculars or a small telescope.',
      'What the mission scientists expect to learn next.',
      'Where to look in the sky, and when.',
      'The physics, without the equations.',
    ],
    subjects: [
      ['the Perseid meteor shower', 'Meteors are grains of comet dust burning up sixty miles overhead.'],
      ["Jupiter's moon Europa", 'Under its ice shell there is more liquid water than in all of Earth’s oceans.'],
      ['the James Webb telescope', 'Its mirror is folded like origami and unfolds to six and a half metres.'],
      ['a total solar eclipse', 'For a few minutes the corona, the Sun’s outer atmosphere, becomes visible.'],
      ['the rings of Saturn', 'The rings are mostly water ice and are thinner than a city block is long.'],
      ['reusable rockets', 'Landing a booster upright turned launch costs from a rounding error into a design choice.'],
      ['exoplanet atmospheres', 'Starlight filtered through a planet’s air carries the fingerprints of its gases.'],
      ['the International Space Station', 'It circles the planet every ninety minutes, sixteen sunrises a day.'],
      ['Mars rovers', 'A rover’s wheels are tested for years on gravel that imitates Martian ground.'],
      ['dark matter', 'Galaxies spin too fast for the matter we can see to hold them together.'],
      ['the Andromeda galaxy', 'On a dark night it is the most distant thing the naked eye can see.'],
      ['lunar sample return', 'Grains of Moon dust tell when the Moon’s volcanoes last erupted.'],
    ],
  },
  {
    slug: 'small-kitchen',
    title: 'The Small Kitchen',
    site: 'https://small-kitchen.example',
    format: 'atom',
    topic: 'cooking',
    tails: [
      'With a recipe for four and what to do with leftovers.',
      'Pantry ingredients, one pot, forty minutes.',
      'Tested in a small kitchen with one hob.',
      'Seasoning notes and what to serve it with.',
    ],
    subjects: [
      ['sourdough starter', 'A starter is flour, water and patience: wild yeast and lactic bacteria do the rest.'],
      ['cast-iron pans', 'Seasoning is polymerised oil, a slick layer that builds with every fry.'],
      ['weeknight dal', 'Red lentils collapse in twenty minutes into something that tastes of hours.'],
      ['fermented hot sauce', 'Salt keeps the bad microbes out while lactobacillus turns chillies sour and deep.'],
      ['homemade pasta', 'Two ingredients, flour and eggs, and a rolling pin are all it takes.'],
      ['knife skills', 'A sharp knife is the safer one: it goes where you aim it.'],
      ['braised beans', 'Dried beans cooked slowly with aromatics beat any tin on texture and price.'],
      ['miso soup', 'Dashi and miso, never boiled together, keep the broth bright.'],
      ['seasonal soup', 'Roasting the vegetables first gives a soup the sweetness of caramel.'],
      ['the perfect omelette', 'Low heat and constant movement make the curds small and the centre soft.'],
      ['pickled vegetables', 'A quick brine of vinegar, sugar and salt turns leftovers into a condiment.'],
      ['bread without kneading', 'Time does the kneading: a wet dough left overnight builds its own gluten.'],
    ],
  },
  {
    slug: 'gradient-cyclist',
    title: 'The Gradient Cyclist',
    site: 'https://gradient-cyclist.example',
    format: 'rss',
    topic: 'cycling',
    tails: [
      'Notes from a hundred kilometres of riding.',
      'Tools you need and the ones you can skip.',
      'For commuters, tourers and weekend riders.',
      'What the bike shop mechanics told us.',
    ],
    subjects: [
      ['tubeless tyres', 'Sealant plugs small punctures before you notice them.'],
      ['climbing cadence', 'Spinning a lighter gear spares the legs for the last kilometre.'],
      ['winter commuting', 'Mudguards, lights and wool make the dark months rideable.'],
      ['bikepacking bags', 'Frame bags carry the weight low and centred, where the bike handles best.'],
      ['chain maintenance', 'A clean, lubed chain wastes less of every pedal stroke.'],
      ['gravel routes', 'Unpaved farm roads join towns that highways never connected.'],
      ['saddle fit', 'Sit bones, not soft tissue, should carry the rider.'],
      ['e-bikes in hilly cities', 'Assistance makes steep streets an errand rather than an ordeal.'],
      ['the Tour de France mountains', 'The Alps and the Pyrenees decide the race more often than the sprints.'],
      ['protected bike lanes', 'Cities that separate bikes from traffic see ridership grow within a year.'],
      ['cycling nutrition', 'Eat before you are hungry: the body burns through its stores in two hours.'],
      ['wheel building', 'Spoke tension, even all round, keeps a wheel true for thousands of kilometres.'],
    ],
  },
  {
    slug: 'web-platform-weekly',
    title: 'Web Platform Weekly',
    site: 'https://web-platform-weekly.example',
    format: 'json',
    topic: 'programming',
    tails: [
      'With code you can paste into the browser console.',
      'Browser support, pitfalls and a working example.',
      'Measured in Chromium, with the numbers.',
      'What it means for the apps you build.',
    ],
    subjects: [
      ['Web Workers', 'A worker runs JavaScript off the main thread, so the page stays responsive.'],
      ['the Origin Private File System', 'OPFS gives a page fast, private files with synchronous access in workers.'],
      ['CSS container queries', 'Components can now adapt to the space they are given, not to the viewport.'],
      ['WebAssembly', 'Compiled code runs in the browser at close to native speed.'],
      ['local-first software', 'Your data lives on your device first and syncs when it can.'],
      ['CRDTs', 'Conflict-free replicated data types merge edits from many replicas without a server deciding.'],
      ['TypeScript generics', 'Generics let one function keep the types of whatever it is given.'],
      ['service workers', 'A service worker answers requests from a cache when the network is gone.'],
      ['BroadcastChannel', 'Tabs of one origin can talk to each other without a server.'],
      ['accessibility audits', 'Keyboard navigation and labels catch most of what automated checks miss.'],
      ['view transitions', 'The browser animates between two states of a page with one call.'],
      ['write-ahead logs', 'A log written before the state changes is what lets a database recover from a crash.'],
    ],
  },
  {
    slug: 'grid-and-weather',
    title: 'Grid & Weather',
    site: 'https://grid-and-weather.example',
    format: 'atom',
    topic: 'energy',
    tails: [
      'With numbers from the national grid operator.',
      'What it costs a household, and what it saves.',
      'The forecast for the coming season.',
      'What engineers and climate scientists say.',
    ],
    subjects: [
      ['heat pumps', 'A heat pump moves heat instead of making it, three or four units out for one in.'],
      ['offshore wind', 'Turbines at sea catch steadier winds than any hill on land.'],
      ['grid batteries', 'Batteries soak up the midday solar surplus and release it in the evening peak.'],
      ['rooftop solar', 'Panels have fallen in price by nine tenths in a decade.'],
      ['heatwaves', 'Nights that stay warm are what make a heatwave dangerous.'],
      ['river floods', 'Wetlands upstream hold water that would otherwise reach the town at once.'],
      ['home insulation', 'The cheapest kilowatt-hour is the one a house never loses through its loft.'],
      ['green hydrogen', 'Splitting water with surplus electricity stores energy for industry.'],
      ['weather forecasting', 'A five-day forecast today is as good as a one-day forecast was in 1980.'],
      ['electric buses', 'Buses that return to one depot every night are the easiest vehicles to electrify.'],
      ['drought and farming', 'Soils rich in organic matter hold water through a dry month.'],
      ['the electricity market', 'Prices are set every half hour by the last power plant needed.'],
    ],
  },
  {
    slug: 'allotment-diary',
    title: 'Allotment Diary',
    site: 'https://allotment-diary.example',
    format: 'rss',
    topic: 'gardening',
    tails: [
      'For a plot, a raised bed or a balcony.',
      'Timing by the season, soil and weather.',
      'What grew, what failed, and why.',
      'Tips from the allotment committee.',
    ],
    subjects: [
      ['tomato seedlings', 'Seedlings sown indoors in March are ready to harden off by May.'],
      ['compost heaps', 'Greens and browns in balance, turned now and then, make compost in months.'],
      ['garlic planting', 'Cloves planted in autumn need the winter cold to split into bulbs.'],
      ['raised beds', 'Beds above the ground warm early in spring and never get trodden.'],
      ['slugs and snails', 'Beer traps, copper tape and night patrols all have their believers.'],
      ['saving seeds', 'Open-pollinated varieties come back true from the seeds you save.'],
      ['winter squash', 'Cured in the sun for a week, squash keeps until spring.'],
      ['fruit tree pruning', 'Prune apples in winter for shape and plums in summer against disease.'],
      ['green manure', 'A cover crop sown after harvest feeds the soil and keeps it from washing away.'],
      ['watering in a dry spell', 'A deep soak twice a week beats a daily sprinkle.'],
      ['pollinator borders', 'A strip of flowers at the edge of a plot brings bees to the beans.'],
      ['potato varieties', 'First earlies, second earlies and maincrop spread the harvest over the summer.'],
    ],
  },
  {
    slug: 'liner-notes',
    title: 'Liner Notes',
    site: 'https://liner-notes.example',
    format: 'json',
    topic: 'music',
    tails: [
      'With a listening list for the weekend.',
      'Interviews with the players and engineers.',
      'From the rehearsal room to the record.',
      'What to listen for the next time.',
    ],
    subjects: [
      ['vinyl pressing plants', 'A record is stamped from hot PVC between two metal plates in under a minute.'],
      ['jazz standards', 'A standard is a tune every player knows well enough to take somewhere new.'],
      ['film scores', 'A recurring theme tells the audience who is on screen before they appear.'],
      ['home recording', 'A laptop and one good microphone can make a record that sounds finished.'],
      ['the piano', 'Eighty-eight keys, some two hundred and thirty strings, and a cast-iron frame.'],
      ['modular synthesisers', 'Patch cables route voltages between modules that each do one thing.'],
      ['choir singing', 'Singing together slows the breath and, studies say, synchronises heartbeats.'],
      ['music streaming royalties', 'A stream pays a fraction of a cent, split between many hands.'],
      ['West African guitar', 'Highlife and soukous guitar lines weave like the parts of a drum ensemble.'],
      ['concert acoustics', 'A hall’s shape decides how long a chord hangs in the air.'],
      ['learning an instrument as an adult', 'Adults learn more slowly but practise more deliberately than children.'],
      ['the history of the drum machine', 'Early drum machines were meant to accompany organists at home.'],
    ],
  },
];

const ANGLES = [
  ['A beginner’s guide to {s}', 'Everything you need to start, and nothing you do not.'],
  ['What nobody tells you about {s}', 'The lessons we learned the hard way, so you do not have to.'],
  ['{S}: five questions, answered', 'Our readers asked; we went and found out.'],
  ['A closer look at {s}', 'A small subject with consequences that reach surprisingly far.'],
  ['A weekend with {s}', 'Notes from two days spent doing nothing else.'],
  ['The surprising history of {s}', 'How we got here is stranger than where we are.'],
  ['{S}, explained in one picture', 'One diagram, and the idea falls into place.'],
  ['Common mistakes with {s}, and how to avoid them', 'Most of them come down to hurrying.'],
  ['{S} this month', 'What is new, what changed, and what to look out for.'],
  ['Ten years of {s}', 'Looking back at a decade, and ahead at the next one.'],
];

function itemsFor(source, index) {
  const items = [];
  const angles = [...ANGLES];
  for (let i = 0; i < source.subjects.length; i++) {
    const [subject, fact] = source.subjects[i];
    // Four stories per subject, each from a different angle: 48 per source.
    for (let a = 0; a < 4; a++) {
      const [titleTemplate] = angles[(i * 3 + a * 7 + index) % angles.length];
      const title = titleTemplate.replace('{s}', subject).replace('{S}', cap(subject));
      const path = `/${source.topic}/${slug(subject)}/${slug(titleTemplate.replace(/\{s\}|\{S\}/, '').trim())}`;
      const hoursAgo = Math.floor(random() * 24 * 30) + (index % 3);
      items.push({
        title,
        url: `${source.site}${path}`,
        // The summary is the subject's own text and a line of its topic: angle lines shared by every topic would make
        // stories of different topics look alike to an embedder, which real feeds do not.
        summary: `${fact} ${source.tails[(i + a) % source.tails.length]}`,
        published: new Date(BASE_TIME - hoursAgo * HOUR).toISOString(),
      });
    }
  }
  return items.sort((x, y) => (x.published < y.published ? 1 : -1));
}

const xml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function rss(source, items) {
  const entries = items
    .map(
      (it) => `    <item>
      <title>${xml(it.title)}</title>
      <link>${xml(it.url)}</link>
      <guid isPermaLink="true">${xml(it.url)}</guid>
      <description>${xml(`<p>${it.summary}</p>`)}</description>
      <pubDate>${new Date(it.published).toUTCString()}</pubDate>
    </item>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
  <channel>
    <title>${xml(source.title)}</title>
    <link>${source.site}/</link>
    <description>${xml(`${cap(source.topic)}, written for Forage's starter bundle.`)}</description>
${entries}
  </channel>
</rss>
`;
}

function atom(source, items) {
  const entries = items
    .map(
      (it) => `  <entry>
    <title>${xml(it.title)}</title>
    <link rel="alternate" href="${xml(it.url)}"/>
    <id>${xml(it.url)}</id>
    <updated>${it.published}</updated>
    <summary type="html">${xml(`<p>${it.summary}</p>`)}</summary>
  </entry>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>${xml(source.title)}</title>
  <id>${source.site}/</id>
  <link rel="alternate" href="${source.site}/"/>
  <updated>${items[0].published}</updated>
${entries}
</feed>
`;
}

function jsonFeed(source, items) {
  return `${JSON.stringify(
    {
      version: 'https://jsonfeed.org/version/1.1',
      title: source.title,
      home_page_url: `${source.site}/`,
      items: items.map((it) => ({
        id: it.url,
        url: it.url,
        title: it.title,
        content_html: `<p>${it.summary}</p>`,
        date_published: it.published,
      })),
    },
    null,
    2,
  )}\n`;
}

const written = [];
const all = [];
SOURCES.forEach((source, index) => {
  const items = itemsFor(source, index);
  all.push(...items);
  const file = `${source.slug}.${source.format === 'json' ? 'json' : 'xml'}`;
  const body = source.format === 'rss' ? rss(source, items) : source.format === 'atom' ? atom(source, items) : jsonFeed(source, items);
  writeFileSync(join(here, file), body);
  written.push({ file, title: source.title, topic: source.topic, items: items.length });
});

// The digest: 30 stories of the others, re-posted under tracking links (utm_*, a fragment, a trailing slash).
const digest = [];
for (let i = 0; i < 30; i++) {
  const it = all[(i * 37) % all.length];
  digest.push({ ...it, url: `${it.url}/?utm_source=digest&utm_medium=rss#top`.replace('https://', 'HTTPS://') });
}
digest.sort((x, y) => (x.published < y.published ? 1 : -1));
const digestSource = { title: 'Morning Digest', site: 'https://morning-digest.example', topic: 'a bit of everything' };
writeFileSync(join(here, 'morning-digest.xml'), rss(digestSource, digest));
written.push({ file: 'morning-digest.xml', title: digestSource.title, topic: 'digest', items: digest.length });

writeFileSync(join(here, 'manifest.json'), `${JSON.stringify({ sources: written }, null, 2)}\n`);
console.log(written.map((w) => `${w.file}: ${w.items}`).join('\n'));
