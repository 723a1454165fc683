// Shared by the components' scripts (animation.js, drawing_pad.js), which Python loads with
// this file in front: an HTML element with a class, a parent and a text, in one call.

function html(tag, className, parent, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}
