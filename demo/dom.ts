/** Small DOM helpers the demo pages share. */

/** The element with id `id`; throws naming the page when it is missing. */
export function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`${location.pathname} has no #${id}`);
  return element as T;
}

/** A new element with attributes and text or child nodes. */
export function el(tag: string, attributes: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}
