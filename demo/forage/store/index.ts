/** Forage's state in tidal: the key layout, reading it back checked, and the database as the worker reaches it. */
export { addMember, addToTransaction, forageDbOver, incrementCounter, recordValue, serveForageDb, setField } from './db.js';
export type { ForageDb, ForageWrite } from './db.js';
export {
  ITEM_PREFIX,
  LABEL_PREFIX,
  MAX_SCAN,
  PREFIX,
  SETTINGS_KEY,
  SIGNAL_PREFIX,
  SLATE_PREFIX,
  SOURCE_PREFIX,
  itemKey,
  labelKey,
  signalKey,
  slateKey,
  sourceKey,
} from './keys.js';
export { loadState, parseSettings, parseSourceSpec, parseStoredItem } from './state.js';
export type { ForageSettings, ForageState, ItemCounters, ItemState, LabelState, SourceState, SourceStatus, StoredItem } from './state.js';
