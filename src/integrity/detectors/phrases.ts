/**
 * Phrases that address the model rather than describe anything, shared by the definition detector
 * (hidden-instructions) and the result detector (prompt-injection). The severity is per target: a tool description
 * that tells the model to ignore its instructions is worse than a web page that does.
 */
import type { PhraseRule } from './rules.js';

export const OVERRIDE_RULES: readonly PhraseRule[] = [
  {
    re: /\b(?:ignore|disregard|forget|override|bypass)\s+(?:all\s+|any\s+|the\s+|your\s+|of\s+){0,3}(?:previous|prior|above|earlier|preceding|former|original|existing|system|other)\s+(?:instructions?|prompts?|rules|directions|directives|guidelines|guidance|context|messages?|constraints)\b/gi,
    severity: { definition: 'critical', result: 'high', argument: 'medium' },
    message: 'tells the model to discard its instructions',
  },
  {
    re: /\b(?:ignore|disregard|forget)\s+(?:all|any|everything)\s+(?:of\s+)?(?:your\s+|the\s+)?(?:instructions|rules|guidelines|you\s+were\s+told)\b/gi,
    severity: { definition: 'critical', result: 'high', argument: 'medium' },
    message: 'tells the model to discard its instructions',
  },
];

export const CONCEAL_RULES: readonly PhraseRule[] = [
  {
    re: /\b(?:do\s+not|don't|dont|never|must\s+not|should\s+not)\s+(?:ever\s+)?(?:tell|inform|notify|alert|mention|reveal|disclose|show|display|explain|report)\b[^.!?\n]{0,60}?\b(?:the\s+)?user\b/gi,
    severity: { definition: 'high', result: 'high' },
    message: 'tells the model to keep something from the user',
  },
  {
    re: /\bwithout\s+(?:telling|informing|notifying|alerting|mentioning\s+(?:it|this)\s+to)\s+(?:the\s+)?user\b/gi,
    severity: { definition: 'high', result: 'high' },
    message: 'tells the model to act without the user knowing',
  },
  {
    re: /\b(?:hide|conceal|keep)\s+(?:this|it|that|these|them)\b[^.!?\n]{0,30}?\bfrom\s+(?:the\s+)?user\b/gi,
    severity: { definition: 'high', result: 'high' },
    message: 'tells the model to hide something from the user',
  },
  {
    re: /\buser\s+(?:must|should|needs?\s+to|is)\s+(?:not|never)\s+(?:ever\s+)?(?:know|see|be\s+told|find\s+out|notice|learn)\b/gi,
    severity: { definition: 'high', result: 'high' },
    message: 'tells the model to keep something from the user',
  },
  {
    re: /\b(?:silently|secretly|covertly|quietly|invisibly|discreetly)\s+(?:read|send|upload|include|add|copy|forward|call|run|execute|pass|exfiltrate|collect|attach|append|post|transmit|bcc|cc|share|email|change|modify|write|delete)\b/gi,
    severity: { definition: 'high', result: 'high' },
    message: 'asks the model to do something covertly',
  },
];

export const MARKER_RULES: readonly PhraseRule[] = [
  {
    re: /<\/?(?:important|system|sys|system[_-]?prompt|instructions?|secret|hidden|admin|im_start|im_end)(?:\s[^<>\n]{0,40})?>/gi,
    severity: { definition: 'high', result: 'high' },
    message: 'a pseudo-tag that imitates a system or priority instruction',
  },
  {
    re: /<\|(?:im_start|im_end|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id)\|>|\[\/?(?:SYSTEM|INST|ADMIN)\]|<<\/?SYS>>/gi,
    severity: { definition: 'high', result: 'high' },
    message: 'a chat-template control token that imitates a new conversation turn',
  },
  {
    re: /^[ \t]{0,8}#{1,4}[ \t]{0,4}(?:system(?:\s+prompt)?|new\s+instructions?)[ \t]{0,4}:?[ \t]{0,4}$/gim,
    // Definition only: documentation about LLMs has honest "System prompt" headings.
    severity: { definition: 'high' },
    message: 'a heading that imitates a system prompt section',
  },
];

export const ADDRESS_MODEL_RULES: readonly PhraseRule[] = [
  {
    re: /\bif\s+you\s+are\s+(?:an?\s+)?(?:AI|LLM|large\s+language\s+model|language\s+model|AI\s+assistant|assistant|AI\s+agent|agent|chatbot|GPT|ChatGPT|Claude|Gemini|Copilot)\b/gi,
    severity: { definition: 'medium', result: 'high' },
    message: 'text that addresses an AI model reading it',
  },
  {
    re: /\b(?:attention|note\s+to(?:\s+the)?|instructions?\s+for(?:\s+the)?|message\s+for(?:\s+the)?)\s+(?:AI|LLM|language\s+model|AI\s+assistant|assistant|AI\s+agent|agent|chatbot|GPT|ChatGPT|Claude|Gemini|Copilot)s?\b/gi,
    severity: { definition: 'medium', result: 'high' },
    message: 'text that addresses an AI model reading it',
  },
];
