/** Every detector the scanner knows, in the order they run. */
import type { Detector } from '../finding.js';
import { exfiltration } from './exfiltration.js';
import { hiddenCharacters } from './hiddenCharacters.js';
import { hiddenInstructions } from './hiddenInstructions.js';
import { PERSONAL_DATA_DETECTORS } from './personalData.js';
import { promptInjection } from './promptInjection.js';
import { SECRET_DETECTORS } from './secrets.js';
import { sensitiveReferences } from './sensitiveReferences.js';
import { shadowing } from './shadowing.js';
import { sideChannel } from './sideChannel.js';

export const DEFINITION_DETECTORS: readonly Detector[] = [hiddenCharacters, hiddenInstructions, sensitiveReferences, exfiltration, sideChannel, shadowing];
export const CONTENT_DETECTORS: readonly Detector[] = [promptInjection, ...SECRET_DETECTORS, ...PERSONAL_DATA_DETECTORS];
export const ALL_DETECTORS: readonly Detector[] = [...DEFINITION_DETECTORS, ...CONTENT_DETECTORS];

export { exfiltration, hiddenCharacters, hiddenInstructions, promptInjection, sensitiveReferences, shadowing, sideChannel };
export { PERSONAL_DATA_DETECTORS, SECRET_DETECTORS };
