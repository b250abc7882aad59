// Render each TeX string (a JSON array on stdin) with MathJax 3's TeX input, as Jupyter does
// (display math, AMS packages); any TeX error -- an undefined macro or environment included -- is
// reported. Prints a JSON array of {index, error} for the strings that fail, [] when all render.
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {SVG} = require('mathjax-full/js/output/svg.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');

const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
const tex = new TeX({
  packages: AllPackages.filter((name) => name !== 'noundefined' && name !== 'noerrors'),
  formatError: (jax, err) => { throw err; },
});
const html = mathjax.document('', {InputJax: tex, OutputJax: new SVG({fontCache: 'none'})});

let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const failures = [];
  JSON.parse(input).forEach((source, index) => {
    // Jupyter hands $$...$$ blocks to MathJax: render each block's content in display mode
    const blocks = source.split('$$').filter((_, i) => i % 2 === 1);
    if (blocks.length === 0) blocks.push(source);
    for (const block of blocks) {
      try {
        html.convert(block, {display: true});
      } catch (err) {
        failures.push({index, error: String(err.message || err)});
        break;
      }
    }
  });
  process.stdout.write(JSON.stringify(failures));
});
