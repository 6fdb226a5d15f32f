// Every figure of the book opens at full size with a click (plain JS, no library: works offline).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("article img").forEach((img) => {
    if (img.closest("a")) return;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "npl-zoom";
    link.title = "Open the figure at full size";
    link.target = "_blank";
    img.parentNode.insertBefore(link, img);
    link.appendChild(img);
  });
});
